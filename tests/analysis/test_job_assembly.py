"""A Slurm job's files analysed as one job (docs/jobs.md), on both sinks: a local DuckDB file
and PostgreSQL through DuckDB."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import h5py
import pytest

from analysis_module.app.runner import FactorOptions, FileInput, JobInput, build_runner
from analysis_module.migrate import upgrade_database
from analysis_module.pipeline_core.job_files import job_source
from analysis_module.settings import AnalysisSettings
from tests.support import postgres
from tests.support.job_split import split_merged_file, synthetic_job

# Figures that describe the job's data (not where it came from or when it was analysed).
NOT_FIGURES = {"source", "table_name", "analysed_at", "n_files", "n_files_failed", "error"}


@pytest.fixture(params=["duckdb", "postgres"])
def runner(request, tmp_path):
    """A runner with the left rule (exact for power constant per second)."""
    db = None
    if request.param == "postgres":
        db = postgres.create_database("bs_jobs")
        upgrade_database(db.dsn)
        settings = AnalysisSettings(
            POSTGRES_HOST=db.host,
            POSTGRES_PORT=db.port,
            POSTGRES_USER=db.user,
            POSTGRES_DB=db.dbname,
            INTEGRATION_RULE="left",
        )
    else:
        settings = AnalysisSettings(DUCKDB_PATH=tmp_path / "r.duckdb", INTEGRATION_RULE="left")
    made = build_runner(settings, factor_options=FactorOptions(flat_price_eur_per_kwh=0.25))
    yield made
    made.close()
    if db is not None:
        postgres.drop_database(db)


def rows(runner, table: str, where: str = "TRUE", params=()) -> list[dict]:
    cursor = runner.sink.con.execute(
        f"SELECT * FROM {runner.sink.table(table)} WHERE {where}", list(params)
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def job_of(paths: list[Path], **extra) -> JobInput:
    sources = {job_source(str(p)) for p in paths}
    assert len(sources) == 1, sources
    files = tuple(FileInput(p, str(p)) for p in paths)
    return JobInput(sources.pop(), files, **extra)


def figures(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in NOT_FIGURES}


def breakdown(runner, source: str) -> list[tuple]:
    found = rows(runner, "job_step_node", "source = ?", [source])
    return sorted((tuple((k, v) for k, v in r.items() if k != "source") for r in found), key=str)


def nodestep_copy(examples_dir: Path, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    names = ("5_batch_vm.h5", "5_0_vm.h5", "5_1_vm.h5")
    return [Path(shutil.copy(examples_dir / "nodestep" / n, folder / n)) for n in names]


def test_node_step_files_of_job_5_are_one_job_of_3150_j(runner, examples_dir, tmp_path):
    paths = nodestep_copy(examples_dir, tmp_path / "alice")
    outcome = runner.analyse_job(job_of(paths))
    assert outcome.status == "ok", outcome.error
    assert outcome.source == str(tmp_path / "alice" / "job_5")
    assert outcome.table_name == "job_5"
    assert outcome.summary["energy_j"] == pytest.approx(3150.0)  # the merged file's figure
    assert (outcome.summary["n_steps"], outcome.summary["n_nodes"]) == (3, 1)
    assert (outcome.summary["n_files"], outcome.summary["n_files_failed"]) == (3, 0)
    assert outcome.summary["error"] is None
    assert [f.status for f in outcome.files] == ["ok"] * 3
    stored = rows(runner, "job_files", "job_source = ?", [outcome.source])
    assert sorted((r["file_name"], r["role"], r["step"], r["node"]) for r in stored) == [
        ("5_0_vm.h5", "node_step", "0", "vm"),
        ("5_1_vm.h5", "node_step", "1", "vm"),
        ("5_batch_vm.h5", "node_step", "batch", "vm"),
    ]
    assert len(rows(runner, "job_summary")) == 1


def test_merged_twin_beside_its_node_step_files_counts_once(runner, examples_dir, tmp_path):
    merged = runner.analyse_file(examples_dir / "job_5.h5", source="merged-alone/job_5.h5")
    folder = tmp_path / "bob"
    paths = nodestep_copy(examples_dir, folder)
    paths.append(Path(shutil.copy(examples_dir / "job_5.h5", folder / "job_5.h5")))
    outcome = runner.analyse_job(job_of(paths))
    assert outcome.status == "ok", outcome.error
    assert figures(outcome.summary) == figures(merged.summary)
    assert breakdown(runner, outcome.source) == breakdown(runner, "merged-alone/job_5.h5")
    assert (outcome.summary["n_files"], outcome.summary["n_files_failed"]) == (4, 0)
    twice = job_of([*paths, paths[0]])  # a file given twice is one file
    assert figures(runner.analyse_job(twice).summary) == figures(merged.summary)
    roles = sorted(r["role"] for r in rows(runner, "job_files", "job_source = ?", [outcome.source]))
    assert roles == ["merged", "node_step", "node_step", "node_step"]


def test_assembled_synthetic_job_equals_its_merged_file_and_the_truth(runner, tmp_path):
    job = synthetic_job("7", n_nodes=4)
    merged = runner.analyse_file(
        job.write_merged(tmp_path / "m"), source=str(tmp_path / "m" / "job_7.h5")
    )
    files = job.write_node_steps(tmp_path / "ns")
    assert len(files) == 9  # batch on one node, two steps on four
    assembled = runner.analyse_job(job_of(files))
    assert assembled.status == "ok", assembled.error
    assert figures(assembled.summary) == figures(merged.summary)
    assert breakdown(runner, assembled.source) == breakdown(runner, merged.source)
    assert assembled.summary["energy_j"] == pytest.approx(job.truth_j, rel=0.005)
    assert (assembled.summary["n_nodes"], assembled.summary["n_steps"]) == (4, 3)
    assert assembled.summary["coverage"] > 0.99  # nodes 1-3 start a second after node 0
    samples, params = runner.sink.job_samples(assembled.table_name)
    series = runner.sink.con.execute(
        f"SELECT count(*), count(DISTINCT step), count(DISTINCT node) FROM {samples}", params
    ).fetchone()
    assert series[1:] == (3, 4)


def test_file_order_does_not_change_the_figures(runner, tmp_path):
    job = synthetic_job("8", n_nodes=3, step_s=60)
    files = job.write_node_steps(tmp_path / "ns")
    files.append(job.write_merged(tmp_path / "ns"))
    first = runner.analyse_job(job_of(files))
    shuffled = files[:]
    random.Random(4).shuffle(shuffled)
    assert shuffled != files
    again = runner.analyse_job(job_of(shuffled))
    assert figures(again.summary) == figures(first.summary)


def test_a_corrupt_file_is_left_out_with_its_reason(runner, tmp_path):
    job = synthetic_job("9", n_nodes=4, step_s=60)
    files = job.write_node_steps(tmp_path / "ns")
    broken = tmp_path / "ns" / "9_1_node03.h5"
    broken.write_bytes(broken.read_bytes()[:300])
    outcome = runner.analyse_job(job_of(files))
    assert outcome.status == "ok", outcome.error
    summary = outcome.summary
    assert (summary["n_files"], summary["n_files_failed"]) == (9, 1)
    assert summary["error"].startswith("1 of 9 files left out: 9_1_node03.h5: ")
    assert summary["n_nodes"] == 4 and summary["coverage"] < 1.0
    failed = [f for f in outcome.files if f.status == "failed"]
    assert [(f.name, f.failure_kind) for f in failed] == [("9_1_node03.h5", "file")]
    stored = rows(runner, "job_files", "status = 'failed'")
    assert [(r["file_name"], r["error"]) for r in stored] == [("9_1_node03.h5", failed[0].error)]
    assert str(tmp_path) not in failed[0].error and failed[0].error


def test_a_file_damaged_inside_is_left_out_when_it_is_read(runner, tmp_path):
    job = synthetic_job("13", n_nodes=2, step_s=60)
    files = job.write_node_steps(tmp_path / "ns")
    damaged = tmp_path / "ns" / "13_1_node01.h5"
    with h5py.File(damaged, "r") as h5:  # opens fine; one Energy chunk no longer inflates
        chunk = h5["node01/Energy"].id.get_chunk_info(2)
    data = bytearray(damaged.read_bytes())
    data[chunk.byte_offset : chunk.byte_offset + chunk.size] = b"\xff" * chunk.size
    damaged.write_bytes(bytes(data))
    outcome = runner.analyse_job(job_of(files))
    assert outcome.status == "ok", outcome.error
    failed = {f.name: f.error for f in outcome.files if f.status == "failed"}
    assert list(failed) == ["13_1_node01.h5"] and "corrupt" in failed["13_1_node01.h5"]
    assert outcome.summary["n_files_failed"] == 1
    steps = rows(runner, "job_step_node", "source = ? AND level = 'step_node'", [outcome.source])
    assert sorted((r["step"], r["node"]) for r in steps) == [
        ("0", "node00"), ("0", "node01"), ("1", "node00"), ("batch", "node00")
    ]  # fmt: skip


def test_a_lost_node_still_counts_towards_n_nodes(runner, tmp_path):
    job = synthetic_job("10", n_nodes=2, step_s=60)
    files = job.write_node_steps(tmp_path / "ns")
    for path in files:
        if path.name.endswith("_node01.h5"):
            path.write_bytes(b"not hdf5")
    outcome = runner.analyse_job(job_of(files))
    assert outcome.status == "ok"
    assert outcome.summary["n_nodes"] == 2
    assert outcome.summary["coverage"] == pytest.approx(0.5, abs=0.02)


def test_a_file_holding_another_node_than_its_name_says_is_left_out(runner, tmp_path):
    job = synthetic_job("11", n_nodes=2, step_s=60)
    files = job.write_node_steps(tmp_path / "ns")
    wrong = tmp_path / "ns" / "11_1_node01.h5"
    shutil.copy(tmp_path / "ns" / "11_1_node00.h5", wrong)
    outcome = runner.analyse_job(job_of(files))
    assert outcome.status == "ok"
    failed = {f.name: f.error for f in outcome.files if f.status == "failed"}
    assert failed == {"11_1_node01.h5": "the name says node node01, the file holds node node00"}


def test_no_readable_file_fails_the_job_with_every_reason(runner, tmp_path):
    folder = tmp_path / "ns"
    folder.mkdir()
    paths = [folder / "12_0_a.h5", folder / "12_0_b.h5"]
    paths[0].write_bytes(b"")
    paths[1].write_text("text\n")
    outcome = runner.analyse_job(job_of(paths))
    assert (outcome.status, outcome.failure_kind) == ("failed", "file")
    assert "12_0_a.h5: " in outcome.error and "12_0_b.h5: " in outcome.error
    assert [f.status for f in outcome.files] == ["failed", "failed"]
    stored = rows(runner, "job_summary")
    assert [(r["status"], r["n_files"], r["n_files_failed"]) for r in stored] == [("failed", 2, 2)]
    assert len(rows(runner, "job_files", "job_source = ?", [outcome.source])) == 2


def test_re_analysis_as_a_job_replaces_the_old_per_file_rows(runner, examples_dir, tmp_path):
    paths = nodestep_copy(examples_dir, tmp_path / "carol")
    paths.append(Path(shutil.copy(examples_dir / "job_5.h5", tmp_path / "carol" / "job_5.h5")))
    for path in paths:  # what an earlier version did: every file a job of its own
        assert runner.analyse_file(path, source=str(path)).status == "ok"
    old_tables = {r["table_name"] for r in rows(runner, "job_summary")}
    assert "job_5" in old_tables and len(old_tables) == 4
    outcome = runner.analyse_job(job_of(paths))
    assert outcome.status == "ok"
    summaries = rows(runner, "job_summary")
    assert [(r["source"], r["table_name"]) for r in summaries] == [(outcome.source, "job_5")]
    assert {r["source"] for r in rows(runner, "job_step_node")} == {outcome.source}
    for table in old_tables - {"job_5"}:
        assert not _job_exists(runner, table)
    assert _job_exists(runner, "job_5")


def test_owner_set_benchmark_survives_re_analysis(runner, examples_dir, tmp_path):
    paths = nodestep_copy(examples_dir, tmp_path / "dave")
    first = runner.analyse_job(job_of(paths, benchmark="hpl", benchmark_set_by="cli"))
    stored = rows(runner, "job_summary")[0]
    assert (stored["benchmark"], stored["benchmark_set_by"]) == ("hpl", "cli")
    runner.sink.con.execute(
        f"UPDATE {runner.sink.table('job_summary')} SET benchmark = 'stream', "
        "benchmark_set_by = 'owner' WHERE source = ?",
        [first.source],
    )
    runner.analyse_job(job_of(paths, benchmark="hpl", benchmark_set_by="cli"))
    stored = rows(runner, "job_summary")[0]
    assert (stored["benchmark"], stored["benchmark_set_by"]) == ("stream", "owner")


def test_split_merged_file_gives_the_merged_figures(runner, examples_dir, tmp_path):
    merged = runner.analyse_file(examples_dir / "job_5.h5", source="whole/job_5.h5")
    files = split_merged_file(examples_dir / "job_5.h5", tmp_path / "split", "5")
    outcome = runner.analyse_job(job_of(files))
    assert figures(outcome.summary) == figures(merged.summary)


def _job_exists(runner, name: str) -> bool:
    """A view readers can query by this name, or samples stored under it."""
    samples, params = runner.sink.job_samples(name)
    count = runner.sink.con.execute(f"SELECT count(*) FROM {samples}", params).fetchone()[0]
    if runner.sink.is_postgres:
        query = f"SELECT relname FROM pg_class WHERE relname = '{name}'"
        found = runner.sink.con.execute("SELECT * FROM postgres_query('pg', ?)", [query])
    else:
        found = runner.sink.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name = ?", [name]
        )
    return bool(found.fetchall()) or count > 0
