"""`python -m tests.ingest.faulty_worker`: the real worker, with faults for marked objects.

A source holding `late-failure` fails in the breakdown step (after its samples were written
inside the job's transaction) with the OSError that absurd times used to raise there; one
holding `slow-analysis` takes 20 s in that step; one holding `defect` raises a RuntimeError
there (an "internal error"); for one holding `lose-db`, the first time in this process, the
analysis' PostgreSQL connections are terminated once it has written its first samples
(`pg_terminate_backend`, on the test's own database only). Everything else is the production
worker.
"""

from __future__ import annotations

import time

import psycopg

from analysis_module.app import runner
from analysis_module.connectors import duckdb_sink
from analysis_module.settings import AnalysisSettings
from analysis_module.worker.__main__ import main as run_worker

_real_breakdown = runner.breakdown_table
_real_append = duckdb_sink.DuckDBJobWriter.append_timeseries
_lost_db: list[str] = []


def _terminate_analysis_connections() -> None:
    """Every backend of our database except the queue's and the listener's pools."""
    with psycopg.connect(AnalysisSettings().postgres_dsn(), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND application_name <> 'benchsuite-ingest'"
        )


def _breakdown(source, rows):
    if "late-failure" in source:
        raise OSError(75, "Value too large for defined data type")
    if "defect" in source:
        raise RuntimeError("a defect in the breakdown")
    if "slow-analysis" in source:
        time.sleep(20)
    return _real_breakdown(source, rows)


def _append_timeseries(self, rows):
    result = _real_append(self, rows)
    if "lose-db" in self.source and not _lost_db:
        _lost_db.append(self.source)
        _terminate_analysis_connections()
    return result


runner.breakdown_table = _breakdown
duckdb_sink.DuckDBJobWriter.append_timeseries = _append_timeseries

if __name__ == "__main__":
    run_worker()
