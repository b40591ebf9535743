"""A job with more files than a login shell's soft open-files limit still lands whole."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import pytest

from analysis_module.startup import raise_open_files_limit
from tests.analysis.test_cli import ROOT
from tests.support.job_split import synthetic_job

SOFT_LIMIT = 100  # below the job's 121 files


def analyse_under_limit(folder, cwd, limit) -> subprocess.CompletedProcess:
    """The batch CLI on `folder`, started with the open-files limit `limit` sets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "MINIO_"))}
    return subprocess.run(
        [sys.executable, str(ROOT / "analysis_module" / "duckdb_analysis.py"),
         "-s", str(folder), "--db", "o.duckdb", "--json"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, preexec_fn=limit,
    )  # fmt: skip


def with_soft_limit() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (SOFT_LIMIT, hard))


def test_a_job_of_more_files_than_the_soft_limit_is_analysed_whole(tmp_path):
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 400:
        pytest.skip("the hard open-files limit of this machine is too low to raise")
    job = synthetic_job("77", n_nodes=60, step_s=60, tasks_per_node=1)
    paths = job.write_node_steps(tmp_path / "run")
    assert len(paths) > SOFT_LIMIT
    result = analyse_under_limit(tmp_path / "run", tmp_path, with_soft_limit)
    assert result.returncode == 0, result.stderr[-2000:]
    (record,) = map(json.loads, result.stdout.splitlines())
    assert record["n_files"] == len(paths) and record["n_files_failed"] == 0
    assert record["energy_j"] == pytest.approx(job.truth_j, rel=0.005)


def test_the_soft_limit_is_raised_to_the_hard_one():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(SOFT_LIMIT, hard), hard))
        now = raise_open_files_limit()
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == now
        assert now == hard or hard == resource.RLIM_INFINITY
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def with_hard_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (SOFT_LIMIT, SOFT_LIMIT))


def test_a_job_over_the_hard_limit_fails_with_the_limit_named_and_blames_no_file(tmp_path):
    job = synthetic_job("78", n_nodes=60, step_s=60, tasks_per_node=1)
    paths = job.write_node_steps(tmp_path / "run")
    result = analyse_under_limit(tmp_path / "run", tmp_path, with_hard_limit)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    (record,) = map(json.loads, result.stdout.splitlines())
    assert record["status"] == "failed"
    assert record["error"].startswith(
        f"too many open files: the job has {len(paths)} files and this process may hold "
        f"{SOFT_LIMIT} open at once; raise the open-files limit"
    )
    assert {f["status"] for f in record["files"]} == {"failed"}
    assert {f["error"] for f in record["files"]} == {record["error"]}  # not the files' fault
