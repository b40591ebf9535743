"""One file's failure never touches the next file: late-stage errors, lost database connections.

Real PostgreSQL. A failure in a late step (the summary or the breakdown, after samples were
written inside the job's transaction) is injected by replacing that step, since the values
that used to raise there are being fixed in the core.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis_module import duckdb_analysis
from analysis_module.app import runner
from analysis_module.app.runner import build_runner
from analysis_module.connectors import duckdb_sink
from analysis_module.pipeline_core.errors import TransientError
from analysis_module.settings import AnalysisSettings
from analysis_module.worker.runner_pool import RunnerPool
from tests.ingest.support import EXAMPLES, fetch_all, summary_row
from tests.support.postgres import PgDatabase

OVERFLOW = OSError(75, "Value too large for defined data type")


def pg_settings(db: PgDatabase, **extra) -> AnalysisSettings:
    return AnalysisSettings(
        POSTGRES_HOST=db.host,
        POSTGRES_PORT=db.port,
        POSTGRES_USER=db.user,
        POSTGRES_DB=db.dbname,
        FLAT_PRICE_EUR_PER_KWH=0.25,
        **extra,
    )


@pytest.fixture
def pg_runner(ingest_db):
    built = build_runner(pg_settings(ingest_db))
    yield built
    built.close()


def fail_late_for(monkeypatch, marker: str, error: BaseException):
    """The breakdown step raises `error` for sources containing `marker`; returns the real one."""
    real = runner.breakdown_table

    def breakdown(source, rows):
        if marker in source:
            raise error
        return real(source, rows)

    monkeypatch.setattr(runner, "breakdown_table", breakdown)
    return real


def open_transactions(db: PgDatabase) -> int:
    rows = fetch_all(
        db,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND state LIKE 'idle in transaction%%'",
    )
    return rows[0][0]


@pytest.mark.parametrize(
    ("error", "kind", "reason"),
    [
        (OVERFLOW, "file", "Value too large"),
        (RuntimeError("a defect"), "internal", "internal error: a defect"),
    ],
)
def test_late_failure_is_rolled_back_and_the_next_file_succeeds(
    ingest_db, pg_runner, monkeypatch, error, kind, reason
):
    fail_late_for(monkeypatch, "/bad/", error)
    failed = pg_runner.analyse_file(EXAMPLES / "job_4.h5", source="s3://b/bad/job_4.h5")
    assert (failed.status, failed.failure_kind) == ("failed", kind)
    assert reason in failed.error
    assert summary_row(ingest_db, "s3://b/bad/job_4.h5")["status"] == "failed"
    assert open_transactions(ingest_db) == 0  # the job's transaction was aborted
    good = pg_runner.analyse_file(EXAMPLES / "job_5.h5", source="s3://b/good/job_5.h5")
    assert good.status == "ok"
    assert summary_row(ingest_db, "s3://b/good/job_5.h5")["status"] == "ok"


def terminate_backends_after_first_write(monkeypatch, db: PgDatabase) -> list[int]:
    """Once the job's transaction has written its first samples, its PostgreSQL connection is
    killed (our database only): the rest of the job finds it gone."""
    real = duckdb_sink.DuckDBJobWriter.append_timeseries
    killed: list[int] = []

    def append(self, rows):
        result = real(self, rows)
        if not killed:
            killed.extend(
                row[0]
                for row in fetch_all(
                    db,
                    "SELECT pg_terminate_backend(pid)::int FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()",
                )
            )
        return result

    monkeypatch.setattr(duckdb_sink.DuckDBJobWriter, "append_timeseries", append)
    return killed


def test_connection_killed_during_an_analysis_is_retried_on_a_new_runner(ingest_db, monkeypatch):
    killed = terminate_backends_after_first_write(monkeypatch, ingest_db)
    pool = RunnerPool(pg_settings(ingest_db), size=1)
    source = "s3://b/user-a/job_4.h5"

    async def analyse():
        return await pool.analyse(
            EXAMPLES / "job_4.h5", source=source, owner="user-a", etag="e1", label="job_4.h5"
        )

    async def scenario():
        with pytest.raises(TransientError, match="server closed the connection"):
            await analyse()
        lost_runners = len(pool._idle)
        outcome = await analyse()
        return lost_runners, outcome

    try:
        lost_runners, outcome = asyncio.run(scenario())
    finally:
        pool.close()
    assert killed  # the fault happened
    assert lost_runners == 0  # the runner that saw it was discarded
    assert outcome.status == "ok"
    assert summary_row(ingest_db, source)["status"] == "ok"


def test_lost_connection_is_never_a_failure_of_the_file(ingest_db, pg_runner, monkeypatch):
    terminate_backends_after_first_write(monkeypatch, ingest_db)
    source = "s3://b/user-a/job_2.h5"
    with pytest.raises(TransientError):
        pg_runner.analyse_file(EXAMPLES / "job_2.h5", source=source)
    assert summary_row(ingest_db, source) is None


def test_the_batch_cli_goes_on_after_a_late_failure(ingest_db, monkeypatch, tmp_path):
    for name in ("job_2.h5", "job_4.h5", "job_5.h5"):
        (tmp_path / name).write_bytes((EXAMPLES / name).read_bytes())
    for name, value in ingest_db.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FLAT_PRICE_EUR_PER_KWH", "0.25")
    real_breakdown = fail_late_for(
        monkeypatch, "job_2", OVERFLOW
    )  # the first job of the sorted list (jobs are keyed <folder>/job_<id>)
    result = CliRunner().invoke(duckdb_analysis.app, ["--source", str(tmp_path), "--json"])
    assert result.exit_code == 1, result.output
    statuses = {
        Path(source).name: status
        for source, status in fetch_all(ingest_db, "SELECT source, status FROM job_summary")
    }
    assert statuses == {"job_2": "failed", "job_4": "ok", "job_5": "ok"}

    # --retry-failed analyses only the failed job again (now that the fault is gone)
    monkeypatch.setattr(runner, "breakdown_table", real_breakdown)
    retried = CliRunner().invoke(
        duckdb_analysis.app, ["--source", str(tmp_path), "--json", "--retry-failed"]
    )
    assert retried.exit_code == 0, retried.output
    records = [json.loads(line) for line in retried.stdout.splitlines() if line.startswith("{")]
    assert [Path(record["source"]).name for record in records] == ["job_2"]
    assert summary_row(ingest_db, str(tmp_path.resolve() / "job_2"))["status"] == "ok"
