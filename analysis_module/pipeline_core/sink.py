"""The small contract between the analysis and wherever its results go.

The core hands Arrow tables to a `ResultSink`; implementations (DuckDB file, PostgreSQL) live
in `connectors/`. A job's rows become visible all at once at `finish`, or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa


@dataclass(frozen=True)
class FinishedJob:
    """A small job's complete results, held in memory until `ResultSink.write_jobs`."""

    source: str
    table_name: str
    samples: tuple[pa.Table, ...]  # JOB_TIMESERIES rows, in order
    summary: pa.Table
    breakdown: pa.Table
    files: pa.Table | None

    @property
    def sample_rows(self) -> int:
        return sum(rows.num_rows for rows in self.samples)


class JobWriter(Protocol):
    """One analysis of one source, inside one transaction of the sink."""

    table_name: str

    def append_timeseries(self, rows: pa.Table) -> None:
        """Add rows (schema `JOB_TIMESERIES`) to the job's table."""

    def finish(self, summary: pa.Table, breakdown: pa.Table, files: pa.Table | None = None) -> None:
        """Write the summary row, per-step/per-node rows and the job's `JOB_FILES` rows and
        commit everything. Results kept for one of the job's files as a job of its own (an
        earlier version) go in the same transaction."""

    def abort(self) -> None:
        """Discard everything since `open_job`; the previous results stay as they were."""


class ResultSink(Protocol):
    def owner_of_table(self, table_name: str) -> str | None:
        """The source whose results live in `table_name`, or None when it is free."""

    def open_job(self, source: str, table_name: str) -> JobWriter:
        """Start replacing the results of `source`."""

    def write_jobs(self, jobs: Sequence[FinishedJob]) -> None:
        """Replace the results of several jobs (distinct sources and table names, each name
        looked up with `owner_of_table`) in one transaction: all of them or none (group
        commit: the per-transaction cost paid once for many small jobs)."""

    def record_failure(self, summary: pa.Table, files: pa.Table | None = None) -> None:
        """Store a failed analysis (a one-row `JOB_SUMMARY` table with status and error) and
        the job's `JOB_FILES` rows."""

    def mark_removed(self, source: str) -> None:
        """The source is gone: drop its table and file rows, mark its summary row `removed`."""

    def close(self) -> None: ...
