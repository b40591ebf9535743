"""Per-job tables of earlier layouts moved into job_samples and views, in a real PostgreSQL and
in a local DuckDB file; interrupted and re-run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import psycopg
import pytest

from analysis_module.app.runner import FactorOptions, build_runner
from analysis_module.connectors.job_tables import PostgresTables, move_tables
from analysis_module.migrate import upgrade_database
from analysis_module.settings import AnalysisSettings
from tests.support import postgres

ROOT = Path(__file__).resolve().parents[2]
OUR_COLUMNS = """step text NOT NULL, node text NOT NULL, time timestamptz NOT NULL,
 epoch_s bigint NOT NULL, elapsed_s bigint, power_w double precision, energy_j double precision,
 price_eur_per_mwh double precision, cost_eur double precision,
 carbon_g_per_kwh double precision, co2_g double precision, n_tasks_sampled integer,
 cpu_util_pct double precision, cpu_time_s double precision, cpu_frequency_mhz double precision,
 rss_mib double precision, vmsize_mib double precision, read_mib double precision,
 write_mib double precision, gpu_util_pct double precision, gpu_mem_mib double precision"""
OTHER_COLUMNS = "ElapsedTime bigint, Power double precision, CPUFrequency double precision"
SAMPLES = """SELECT 'batch', 'node1', to_timestamp(1700000000 + g), 1700000000 + g, g, 100.0 + g,
 100.0 * g FROM generate_series(1, %s) g"""


def own_table(conn, name: str, rows: int) -> None:
    """A job of ours as an earlier version stored it: a summary row and its own table."""
    conn.execute(f'CREATE TABLE public."{name}" ({OUR_COLUMNS})')
    conn.execute(
        f'INSERT INTO public."{name}" (step, node, time, epoch_s, elapsed_s, power_w, energy_j) '
        + SAMPLES,
        (rows,),
    )
    conn.execute(
        "INSERT INTO job_summary (source, job_id, status, analysed_at, table_name) "
        "VALUES (%s, %s, 'ok', now(), %s)",
        (f"s3://b/u/{name}.h5", name.removeprefix("job_"), name),
    )


def other_table(conn, name: str, rows: int) -> None:
    """A table of an earlier per-file layout: no summary row, columns of its own."""
    conn.execute(f'CREATE TABLE public."{name}" ({OTHER_COLUMNS})')
    conn.execute(
        f'INSERT INTO public."{name}" SELECT g, 50.0 + g, 2400 FROM generate_series(1, %s) g',
        (rows,),
    )


def kind(conn, name: str) -> str | None:
    row = conn.execute(
        "SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relname = %s",
        (name,),
    ).fetchone()
    return {"r": "table", "v": "view"}.get(row[0]) if row else None


def contents(conn, name: str) -> list[tuple]:
    return conn.execute(f'SELECT * FROM public."{name}" ORDER BY 1, 2, 3').fetchall()


@pytest.fixture
def old_database():
    db = postgres.create_database("bs_move")
    upgrade_database(db.dsn)
    with db.connect() as conn:
        for i in range(5):
            own_table(conn, f"job_{100 + i}", rows=30 + i)
        for i in range(4):
            other_table(conn, f"job_{200 + i}_0_node{i}", rows=20)
        # a name of ours whose table has columns we don't know: kept as it is, not converted
        conn.execute('CREATE TABLE public."job_300" (step text, node text, surprise text)')
        conn.execute("INSERT INTO public.job_300 VALUES ('0', 'n', 'kept')")
        conn.execute(
            "INSERT INTO job_summary (source, status, analysed_at, table_name) "
            "VALUES ('s3://b/u/job_300.h5', 'ok', now(), 'job_300')"
        )
    yield db
    postgres.drop_database(db)


def move_cli(db, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **db.env(), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "analysis_module.move_job_tables", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_both_kinds_move_and_read_the_same_rows_as_before(old_database):
    with old_database.connect() as conn:
        names = [f"job_{100 + i}" for i in range(5)] + [
            f"job_{200 + i}_0_node{i}" for i in range(4)
        ]
        before = {name: contents(conn, name) for name in [*names, "job_300"]}
    dry = move_cli(old_database, "--dry-run")
    assert dry.returncode == 0 and dry.stdout == "10 per-job tables to move\n"
    moved = move_cli(old_database, "--batch", "3")
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.startswith("moved 10 per-job tables: 5 into job_samples (160 rows)")
    assert "moved 3/10 tables" in moved.stderr and "moved 10/10 tables" in moved.stderr
    with old_database.connect() as conn:
        for name, rows in before.items():
            assert kind(conn, name) == "view", name
            assert contents(conn, name) == rows, name
        stored = conn.execute(
            "SELECT table_name, count(*) FROM results.job_samples GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert stored == [(f"job_{100 + i}", 30 + i) for i in range(5)]
        legacy = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'legacy_jobs'"
        ).fetchone()[0]
        assert legacy == 5  # the four of the earlier layout and job_300
    again = move_cli(old_database)
    assert again.returncode == 0 and again.stdout.startswith("moved 0 per-job tables")


def test_an_interrupted_move_keeps_its_batches_and_a_re_run_finishes(old_database):
    class Interrupted(Exception):
        pass

    def stop_after_first_batch(report, total):
        raise Interrupted

    with psycopg.connect(old_database.dsn) as conn, pytest.raises(Interrupted):
        move_tables(PostgresTables(conn), batch=4, progress=stop_after_first_batch)
    with old_database.connect() as conn:
        assert PostgresTables(conn).count_pending() == 6
        assert [kind(conn, f"job_{100 + i}") for i in range(5)] == ["view"] * 4 + ["table"]
    with psycopg.connect(old_database.dsn) as conn:
        report = move_tables(PostgresTables(conn), batch=4)
    assert (report.ours, report.other) == (1, 5)
    with old_database.connect() as conn:
        assert PostgresTables(conn).count_pending() == 0
        assert conn.execute("SELECT count(*) FROM results.job_samples").fetchone()[0] == 160


def test_a_re_analysed_job_replaces_its_old_table_by_its_view(old_database, examples_dir):
    source = "s3://b/u/job_5.h5"
    with old_database.connect() as conn:
        conn.execute(f'CREATE TABLE public."job_5" ({OUR_COLUMNS})')
        conn.execute(
            "INSERT INTO job_summary (source, status, analysed_at, table_name) "
            "VALUES (%s, 'ok', now(), 'job_5')",
            (source,),
        )
    settings = AnalysisSettings(**old_database.env(), INTEGRATION_RULE="left")
    runner = build_runner(settings, factor_options=FactorOptions(flat_price_eur_per_kwh=0.25))
    try:
        outcome = runner.analyse_file(examples_dir / "job_5.h5", source=source)
    finally:
        runner.close()
    assert (outcome.status, outcome.table_name) == ("ok", "job_5")
    with old_database.connect() as conn:
        assert kind(conn, "job_5") == "view"
        energy = conn.execute("SELECT max(energy_j) FROM job_5 WHERE step = 'batch'").fetchone()
        assert energy[0] == pytest.approx(3150.0)


def test_a_name_held_by_a_table_of_another_layout_is_never_overwritten(old_database, tmp_path):
    with old_database.connect() as conn:
        other_table(conn, "job_5", rows=7)
    settings = AnalysisSettings(**old_database.env())
    runner = build_runner(settings)
    try:
        outcome = runner.analyse_file(ROOT / "examples/profiles/job_5.h5", source="s3://b/job_5.h5")
    finally:
        runner.close()
    assert outcome.status == "ok" and outcome.table_name.startswith("job_5_")
    with old_database.connect() as conn:
        assert kind(conn, "job_5") == "table" and len(contents(conn, "job_5")) == 7
        assert kind(conn, outcome.table_name) == "view"


def test_the_sink_loads_no_catalog_beside_its_own_tables(old_database):
    settings = AnalysisSettings(**old_database.env())
    runner = build_runner(settings)
    try:
        runner.sink.owner_of_table("job_100")  # touches the attached database
        seen = runner.sink.con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'pg' "
            "UNION ALL SELECT schema_name, view_name FROM duckdb_views() "
            "WHERE database_name = 'pg' ORDER BY 1, 2"
        ).fetchall()
    finally:
        runner.close()
    assert seen == [
        ("results", "job_files"),
        ("results", "job_samples"),
        ("results", "job_step_node"),
        ("results", "job_summary"),
    ]


def test_a_local_results_file_of_the_earlier_layout_is_moved(tmp_path):
    path = tmp_path / "analysis.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE job_summary (source VARCHAR PRIMARY KEY, status VARCHAR, "
        "analysed_at TIMESTAMPTZ, table_name VARCHAR)"
    )
    con.execute(f"CREATE TABLE job_7 ({OUR_COLUMNS.replace('double precision', 'DOUBLE')})")
    con.execute(
        "INSERT INTO job_7 (step, node, time, epoch_s, power_w) SELECT 'batch', 'n1', "
        "to_timestamp(1700000000 + g), 1700000000 + g, 100.0 FROM range(12) t(g)"
    )
    con.execute("INSERT INTO job_summary VALUES ('job_7.h5', 'ok', now(), 'job_7')")
    con.execute("CREATE TABLE job_notes (text VARCHAR)")  # not a job's: stays
    con.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("POSTGRES_HOST", None)
    done = subprocess.run(
        [sys.executable, "-m", "analysis_module.move_job_tables", "--db", str(path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 into job_samples (12 rows)" in done.stdout and "left 1 tables" in done.stdout
    con = duckdb.connect(str(path), read_only=True)
    kinds = dict(
        con.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_name IN ('job_7', 'job_notes')"
        ).fetchall()
    )
    assert kinds == {"job_7": "VIEW", "job_notes": "BASE TABLE"}
    assert con.execute("SELECT count(*), min(power_w) FROM job_7").fetchone() == (12, 100.0)


def test_a_bad_batch_size_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "analysis_module.move_job_tables", "--batch", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--batch" in done.stderr


def test_a_missing_results_file_is_one_line_and_exit_2_and_creates_nothing(tmp_path):
    missing = tmp_path / "nowhere.duckdb"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("POSTGRES_HOST", None)
    done = subprocess.run(
        [sys.executable, "-m", "analysis_module.move_job_tables", "--db", str(missing)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == f"--db: no results file at {missing}\n"
    assert not missing.exists()
