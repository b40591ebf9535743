"""The hostile corpus through the batch CLI, as a real child process.

Every hostile file fails alone with its specific reason (or, for values that are missing data,
is analysed with those values left out), the valid file after them is analysed, nothing of the
host's files appears in stdout, stderr or the DuckDB results, and the child's peak memory stays
under 1 GB (a bound, not a timing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.support.hostile_profiles import SECRET_MARKER, VALID_NAME, write_corpus

ONE_GB_KIB = 10**9 // 1024
PASSWD_FIRST_LINE = Path("/etc/passwd").read_text().splitlines()[0]


def run_cli_measured(*args: str, cwd: Path) -> tuple[int, str, str, int]:
    """(exit code, stdout, stderr, peak RSS of the child in KiB) of the batch CLI.

    ``os.wait4`` reports this one child's ``ru_maxrss``; on Linux it can include the memory
    the child had before exec (a copy of this process), so it only ever overstates.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "MINIO_"))}
    out_path, err_path = cwd / "stdout.txt", cwd / "stderr.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        child = subprocess.Popen(
            [sys.executable, "-m", "analysis_module.duckdb_analysis", *args],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    return (
        child.returncode,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
        usage.ru_maxrss,
    )


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    expected = write_corpus(root / "corpus", root / "host", n_tiny_nodes=2_000)
    code, stdout, stderr, peak_kib = run_cli_measured(
        "--source", str(root / "corpus"), "--db", str(root / "out.duckdb"), "--json", cwd=root
    )
    records = {Path(r["source"]).name: r for r in map(json.loads, stdout.splitlines())}
    return expected, code, stdout, stderr, peak_kib, records, root / "out.duckdb"


def test_every_hostile_file_fails_alone_with_its_reason(corpus_run):
    expected, code, _, stderr, _, records, _ = corpus_run
    assert code == 1  # some files failed; the run itself went through to the end
    assert "Traceback" not in stderr
    assert set(records) == set(expected)
    for name, want in expected.items():
        record = records[name]
        assert record["status"] == want.status, (name, record["error"])
        if want.status == "failed":
            assert want.phrase in record["error"], (name, record["error"])
            assert "internal error" not in record["error"]
            assert "\n" not in record["error"]


def test_the_valid_file_after_them_is_analysed(corpus_run):
    expected, *_, records, _ = corpus_run
    valid = records[VALID_NAME]
    assert valid["status"] == "ok"
    assert valid["energy_j"] == pytest.approx(expected[VALID_NAME].energy_j)


def test_values_that_are_missing_data_leave_the_rest_analysed(corpus_run):
    expected, *_, records, _ = corpus_run
    for name, want in expected.items():
        if want.status != "ok" or name == VALID_NAME:
            continue
        record = records[name]
        if want.energy_j is None:
            assert record["energy_j"] is None, name
            assert record["avg_power_w"] is None, name
            assert want.phrase in record["cost_note"], name
        else:
            assert record["energy_j"] == pytest.approx(want.energy_j), name
        for column in ("start_time", "end_time"):  # never 1969-12-31, never past 9999
            assert record[column] is not None and record[column] >= "2023-11-14", name


def test_no_host_data_in_any_output(corpus_run):
    _, _, stdout, stderr, _, _, db = corpus_run
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [row[0] for row in con.execute("SHOW TABLES").fetchall()]
        dumped = "\n".join(
            str(con.execute(f'SELECT * FROM "{table}"').fetchall()) for table in tables
        )
    for text in (stdout, stderr, dumped):
        assert SECRET_MARKER not in text
        assert PASSWD_FIRST_LINE not in text
    assert "job_summary" in tables


def test_peak_memory_of_the_child_stays_under_one_gb(corpus_run):
    *_, peak_kib, _, _ = corpus_run
    assert 0 < peak_kib < ONE_GB_KIB
