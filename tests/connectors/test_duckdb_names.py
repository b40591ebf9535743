"""A local DuckDB file answers "who holds this table name" from memory (duckdb_names.py).

The map must say what the file says after every kind of write: jobs alone and in groups,
re-analyses, a job's results moving to another name, failures, removals, a transaction
rolled back, and a file another process wrote before.
"""

from __future__ import annotations

import pytest

from analysis_module.app.commit_group import CommitGroup, GroupLimits
from analysis_module.app.job_assembly import FileInput, JobInput
from analysis_module.app.runner import build_runner
from analysis_module.settings import AnalysisSettings
from tests.support.slurm_synth import write_synthetic_job


@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("names")
    paths = []
    for i in range(3):
        path = folder / f"job_{700 + i}.h5"
        write_synthetic_job(
            path, n_nodes=1, tasks_per_node=1, duration_s=40, start_epoch=1_700_000_000
        )
        paths.append(path)
    return paths


def job(path, source: str) -> JobInput:
    return JobInput(source, (FileInput(path, source),), owner="user-a")


def in_file(runner) -> dict[str, str]:
    rows = runner.sink.con.execute(
        "SELECT table_name, source FROM main.job_summary WHERE table_name IS NOT NULL"
    ).fetchall()
    return dict(rows)


def assert_map_is_the_file(runner, also: tuple[str, ...] = ()) -> dict[str, str]:
    expected = in_file(runner)
    for name in {*expected, *also}:
        assert runner.sink.names.holder(name) == expected.get(name), name
    return expected


def test_the_map_follows_every_write(profiles, tmp_path):
    path = tmp_path / "results.duckdb"
    runner = build_runner(AnalysisSettings(DUCKDB_PATH=path))
    first, second, third = profiles
    try:
        with CommitGroup(runner, GroupLimits(max_jobs=2)) as group:
            outcomes = group.analyse(job(first, "s3://b/user-a/a/job_700.h5"))
            outcomes += group.analyse(job(second, "s3://b/user-a/a/job_701.h5"))
            outcomes += group.close()
        assert [o.table_name for o in outcomes] == ["job_700", "job_701"]
        assert assert_map_is_the_file(runner) == {
            "job_700": "s3://b/user-a/a/job_700.h5",
            "job_701": "s3://b/user-a/a/job_701.h5",
        }
        # Another source with the same job id gets another name; the first keeps its own.
        other = runner.analyse_job(job(first, "s3://b/user-a/b/job_700.h5"))
        assert other.status == "ok" and other.table_name not in ("job_700", "job_701")
        again = runner.analyse_job(job(first, "s3://b/user-a/a/job_700.h5"))
        assert again.table_name == "job_700"
        assert_map_is_the_file(runner, also=(other.table_name,))
        # Removed: the name is free, and the next job with that id takes it.
        runner.sink.mark_removed("s3://b/user-a/a/job_700.h5")
        assert runner.sink.names.holder("job_700") is None
        assert_map_is_the_file(runner, also=("job_700",))
        taken = runner.analyse_job(job(first, "s3://b/user-a/c/job_700.h5"))
        assert taken.table_name == "job_700"
        assert runner.sink.names.holder("job_700") == "s3://b/user-a/c/job_700.h5"
        # A failed analysis replaces the row, and its name goes with it.
        broken = tmp_path / "job_701.h5"
        broken.write_bytes(b"not an HDF5 file")
        failed = runner.analyse_job(job(broken, "s3://b/user-a/a/job_701.h5"))
        assert failed.status == "failed"
        assert runner.sink.names.holder("job_701") is None
        assert_map_is_the_file(runner, also=("job_701",))
        written = assert_map_is_the_file(runner)
    finally:
        runner.close()
    # Another process opening the file reads the names it holds.
    reopened = build_runner(AnalysisSettings(DUCKDB_PATH=path))
    try:
        assert assert_map_is_the_file(reopened) == written
        assert reopened.analyse_job(job(third, "s3://b/user-a/a/job_702.h5")).table_name == (
            "job_702"
        )
    finally:
        reopened.close()


def test_a_rolled_back_write_leaves_the_map_as_the_file(profiles, tmp_path):
    from analysis_module.connectors.duckdb_group_writer import replace_rows

    runner = build_runner(AnalysisSettings(DUCKDB_PATH=tmp_path / "results.duckdb"))
    sink = runner.sink
    try:
        kept = runner.analyse_job(job(profiles[0], "s3://b/user-a/a/job_700.h5"))
        assert sink.names.holder("job_700") == kept.source

        def work() -> None:  # the job's row deleted, then the transaction fails
            replace_rows(sink, [kept.source], [], {}, [])
            assert sink.names.holder("job_700") is None  # as the transaction sees it
            raise RuntimeError("the disk is full")

        with pytest.raises(RuntimeError, match="the disk is full"):
            sink._in_transaction("a write that fails", work)
        assert sink.names.holder("job_700") == kept.source
        assert_map_is_the_file(runner)
    finally:
        runner.close()
