"""The batch CLI analyses jobs, not files (docs/jobs.md)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.analysis.test_cli import read, run_cli
from tests.support.job_split import synthetic_job


def records_of(result) -> dict[str, dict]:
    return {r["source"]: r for r in map(json.loads, result.stdout.splitlines())}


def test_job_5_node_step_files_are_one_row_of_3150_j(tmp_path, examples_dir):
    result = run_cli(
        "-s", str(examples_dir / "nodestep"), "--db", "o.duckdb", "--integration", "left",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    (job_5,) = [line for line in lines if line.startswith("job_5 ")]
    assert " 3,150.0 " in job_5  # the merged file's figure, not the sum of three files
    assert [line.split()[0] for line in lines[1:] if line[:1] != "-"] == ["4_0_vm.h5", "job_5"]


def test_a_corrupt_file_is_named_and_the_job_still_lands(tmp_path):
    job = synthetic_job("21", n_nodes=4, step_s=60)
    folder = tmp_path / "run"
    job.write_node_steps(folder)
    broken = folder / "21_0_node02.h5"
    broken.write_bytes(broken.read_bytes()[:400])
    result = run_cli("-s", str(folder), "--db", "o.duckdb", "--json", cwd=tmp_path)
    assert result.returncode == 1  # a file failed
    (record,) = records_of(result).values()
    assert record["status"] == "ok" and record["job_id"] == "21"
    assert (record["n_files"], record["n_files_failed"]) == (9, 1)
    assert record["coverage"] < 1.0
    failed = [f for f in record["files"] if f["status"] == "failed"]
    assert [(f["name"], f["role"]) for f in failed] == [("21_0_node02.h5", "node_step")]
    assert f"FAILED 21_0_node02.h5: {failed[0]['error']}" in result.stderr.splitlines()
    stored = read(
        tmp_path / "o.duckdb", "SELECT file_name, error FROM job_files WHERE status = 'failed'"
    )
    assert stored == [("21_0_node02.h5", failed[0]["error"])]

    table = run_cli("-s", str(folder), "--db", "t.duckdb", cwd=tmp_path)
    assert table.returncode == 1
    lines = table.stdout.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("job_21 "))
    assert lines[row + 1].startswith("    1 of 9 files left out: 21_0_node02.h5: ")
    assert max(map(len, lines)) <= 80


def test_same_job_id_in_two_folders_is_two_jobs_and_odd_names_are_their_own(tmp_path):
    job = synthetic_job("22", n_nodes=2, step_s=30)
    job.write_node_steps(tmp_path / "in" / "a")
    job.write_node_steps(tmp_path / "in" / "b")
    shutil.copy(tmp_path / "in" / "a" / "22_0_node00.h5", tmp_path / "in" / "a" / "renamed.h5")
    result = run_cli("-s", str(tmp_path / "in"), "--db", "o.duckdb", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = records_of(result)
    root = (tmp_path / "in").resolve()
    assert set(records) == {
        str(root / "a/job_22"),
        str(root / "b/job_22"),
        str(root / "a/renamed.h5"),
    }
    a, b = records[str(root / "a/job_22")], records[str(root / "b/job_22")]
    assert a["energy_j"] == b["energy_j"] and a["n_files"] == b["n_files"] == 5
    assert a["table_name"] == "job_22" and b["table_name"].startswith("job_22_")
    single = records[str(root / "a/renamed.h5")]
    assert single["n_files"] == 1 and single["files"][0]["role"] == "single"


def test_merged_twin_in_the_folder_is_not_counted_twice(tmp_path):
    job = synthetic_job("23", n_nodes=3, step_s=60)
    alone = run_cli(
        "-s", str(job.write_merged(tmp_path / "m")), "--db", "m.duckdb", "--json", cwd=tmp_path
    )
    job.write_node_steps(tmp_path / "both")
    job.write_merged(tmp_path / "both")
    both = run_cli("-s", str(tmp_path / "both"), "--db", "b.duckdb", "--json", cwd=tmp_path)
    assert alone.returncode == both.returncode == 0, both.stderr
    (merged,) = records_of(alone).values()
    (assembled,) = records_of(both).values()
    assert assembled["energy_j"] == merged["energy_j"]
    assert merged["energy_j"] == pytest.approx(job.truth_j, rel=0.005)
    assert assembled["n_files"] == 8 and merged["n_files"] == 1
    roles = sorted(f["role"] for f in assembled["files"])
    assert roles == ["merged"] + ["node_step"] * 7


def test_benchmark_flag_is_recorded_and_checked(tmp_path, examples_dir):
    bad = run_cli(
        "-s", str(examples_dir / "nodestep"), "--db", "o.duckdb", "--benchmark", "a b", cwd=tmp_path
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "--benchmark" in bad.stderr
    assert not (tmp_path / "o.duckdb").exists()  # nothing written
    good = run_cli(
        "-s",
        str(examples_dir / "nodestep"),
        "--db",
        "o.duckdb",
        "--benchmark",
        "hpl-2.3",
        cwd=tmp_path,
    )
    assert good.returncode == 0, good.stderr
    stored = read(
        tmp_path / "o.duckdb", "SELECT DISTINCT benchmark, benchmark_set_by FROM job_summary"
    )
    assert stored == [("hpl-2.3", "cli")]


def test_retry_failed_takes_jobs_that_left_files_out(tmp_path):
    job = synthetic_job("24", n_nodes=2, step_s=30)
    job.write_node_steps(tmp_path / "ok")
    job.write_node_steps(tmp_path / "partial")
    saved = (tmp_path / "partial" / "24_1_node01.h5").read_bytes()
    (tmp_path / "partial" / "24_1_node01.h5").write_bytes(b"garbage")
    first = run_cli(
        "-s",
        str(tmp_path / "ok"),
        "-s",
        str(tmp_path / "partial"),
        "--db",
        "o.duckdb",
        cwd=tmp_path,
    )
    assert first.returncode == 1
    (tmp_path / "partial" / "24_1_node01.h5").write_bytes(saved)
    again = run_cli(
        "-s", str(tmp_path / "ok"), "-s", str(tmp_path / "partial"), "--db", "o.duckdb",
        "--retry-failed", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    (record,) = records_of(again).values()
    assert record["source"].endswith("partial/job_24") and record["n_files_failed"] == 0
