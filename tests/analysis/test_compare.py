"""`python -m analysis_module.compare` over a real DuckDB results file (tables made by the
analysis' own sink, rows inserted with SQL: tests/support/benchmark_runs.py) and over
PostgreSQL."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analysis_module.connectors.duckdb_sink import DuckDBSink
from tests.support.benchmark_runs import FORMULA_NOTE, insert, runs

ROOT = Path(__file__).resolve().parents[2]
ME, YOU = "user-me", "user-you"
CUT = FORMULA_NOTE[:9] + "~"  # the job id, cut to its column


def compare(*args: str, cwd: Path, env: dict | None = None, as_script: bool = False):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "MINIO_"))}
    environment.pop("DUCKDB_PATH", None)
    environment.update(env or {})
    command = [str(ROOT / "analysis_module" / "compare.py")] if as_script else ["-m"]
    if not as_script:
        command.append("analysis_module.compare")
    return subprocess.run(
        [sys.executable, *command, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def results(tmp_path) -> Path:
    path = tmp_path / "results.duckdb"
    sink = DuckDBSink.local(path)
    try:
        rows = runs(ME, YOU)
        rows[2]["job_id"] = FORMULA_NOTE  # a job id a spreadsheet would run
        insert(sink.con, rows, "?")
    finally:
        sink.close()
    return path


def _table(stdout: str) -> dict[str, list[str]]:
    """Run name -> its cells, from the table's lines under the heading."""
    return {line.split()[0]: line.split()[1:] for line in stdout.splitlines()[3:] if line}


def test_table_puts_runs_side_by_side_and_marks_the_best(results, tmp_path):
    done = compare("--db", str(results), "--benchmark", "hpl", "--owner", ME, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "hpl of user-me: 4 runs, * marks the best"
    assert lines[2].split() == [
        "run", "nodes", "kWh", "time", "s", "EDP", "J*s", "GFLOP/s", "GFLOP/W", "EUR/GFLOP",
    ]  # fmt: skip
    assert all(len(line) <= 80 for line in lines)
    rows = _table(done.stdout)
    assert list(rows) == ["a", "b", CUT, "d"]  # oldest first, names cut to fit
    # nodes, kWh, time, EDP, GFLOP/s, GFLOP/W, EUR/GFLOP; `*` on the best of each column
    assert rows["a"] == ["1", "2.8e-04", "100", "100,000", "20.0*", "2.00", "5.0e-05"]
    assert rows["b"] == ["2", "2.2e-04*", "120", "96,000*", "20.0*", "3.00*", "3.3e-05*"]
    assert rows[CUT] == ["4", "3.3e-04", "80.0*", "96,000*", "-", "-", "-"]
    assert rows["d"] == ["1", "-", "90.0", "-", "-", "-", "-"]


def test_every_benchmark_when_none_is_named(results, tmp_path):
    done = compare("--db", str(results), cwd=tmp_path, as_script=True)
    assert done.returncode == 0, done.stderr
    headings = [line for line in done.stdout.splitlines() if "marks the best" in line]
    assert headings == [
        "hpl of user-me: 4 runs, * marks the best",
        "hpl of user-you: 1 run, * marks the best",  # runs of another owner are not mixed in
        "stream of user-me: 1 run, * marks the best",
    ]


def test_csv_has_every_figure_and_the_best(results, tmp_path):
    done = compare("--db", str(results), "--benchmark", "hpl", "--csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = list(csv.DictReader(io.StringIO(done.stdout)))
    mine = [row for row in table if row["owner"] == ME]
    assert [row["source"].rsplit("_", 1)[1] for row in mine] == ["a", "b", "c", "d"]
    a, b, c, d = mine
    assert float(b["energy_j"]) == 800.0 and float(b["energy_kwh"]) == pytest.approx(800 / 3.6e6)
    assert float(b["gflops_per_w"]) == 3.0 and float(b["energy_per_gflop_j"]) == 1 / 3
    assert b["best"] == "energy_j;edp_js;gflops;gflops_per_w;eur_per_gflop"
    assert c["best"] == "time_to_solution_s;edp_js" and a["best"] == "gflops"
    assert d["energy_j"] == "" and d["best"] == ""
    assert c["job_id"] == "'" + FORMULA_NOTE  # shown as text, not run
    assert b["start_time"] == "2026-03-02T10:00:00+00:00"
    assert [row["best"] for row in table if row["owner"] == YOU] == [
        "energy_j;time_to_solution_s;edp_js"
    ]


def test_postgres_when_postgres_host_is_set(pg_fresh_db, tmp_path):
    with pg_fresh_db.connect() as conn:
        insert(conn, runs(ME, YOU), "%s")
    done = compare(
        "--benchmark", "hpl", "--owner", ME, "--csv", cwd=tmp_path, env=pg_fresh_db.env()
    )
    assert done.returncode == 0, done.stderr
    table = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [(row["job_id"], row["best"]) for row in table][:2] == [
        ("a", "gflops"),
        ("b", "energy_j;edp_js;gflops;gflops_per_w;eur_per_gflop"),
    ]
    assert len(table) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", "missing.duckdb"], "configuration error: --db: no results file at"),
        (["--benchmark", "no spaces"], "configuration error: --benchmark: 'no spaces' is not"),
        (["--benchmark", "x" * 129], "is not a benchmark name"),
        (["--sort", "x"], "configuration error: unrecognized arguments: --sort x"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(tmp_path, args, message):
    done = compare(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("configuration error: "), done.stderr
    assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "missing.duckdb").exists()  # a read never creates a results file


def test_default_file_is_duckdb_path(results, tmp_path):
    done = compare("--benchmark", "stream", cwd=tmp_path, env={"DUCKDB_PATH": str(results)})
    assert done.returncode == 0, done.stderr
    assert _table(done.stdout)["s"][:4] == ["1", "1.4e-04*", "50.0*", "25,000*"]
    gone = compare(cwd=tmp_path, env={"DUCKDB_PATH": str(tmp_path / "none.duckdb")})
    assert gone.returncode == 2 and gone.stderr.startswith("configuration error: DUCKDB_PATH:")


def test_not_a_results_file(tmp_path):
    (tmp_path / "notes.duckdb").write_text("not a database\n")
    done = compare("--db", "notes.duckdb", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("configuration error: --db: cannot open notes.duckdb:")


def test_unreachable_postgres_is_one_line(tmp_path):
    env = {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "9", "POSTGRES_DB": "x"}
    done = compare(cwd=tmp_path, env=env)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: cannot read results from PostgreSQL:")


def test_no_runs_of_the_benchmark(results, tmp_path):
    done = compare("--db", str(results), "--benchmark", "nbody", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == f"no analysed runs of benchmark nbody in {results}\n"
