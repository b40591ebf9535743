"""Group commit: small jobs analysed one after another and written together.

A small job's analysis takes a few milliseconds; writing it as a transaction of its own costs
as much again in fixed costs (statements, round trips, the COMMIT reaching the disk). Inside a
`CommitGroup` the runner holds each small job's finished results in memory and the group
writes them with `ResultSink.write_jobs` once it holds `max_jobs` jobs or `max_rows` samples,
once its oldest job has waited `max_seconds` (checked when the next job starts), before a job
of a source it already holds, and when it closes. A job with more than `max_job_rows` samples
is never held: the group is written first, then the job streams into a transaction of its own
as outside a group.

An outcome is handed out only once its results are committed (or its failure recorded), in
the order the jobs were analysed. When a group's write fails, each of its jobs is written
alone, so one job that cannot be stored fails alone, recorded with its reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from analysis_module.app.job_assembly import JobFiles, JobInput, one_line
from analysis_module.app.runner import INTERNAL
from analysis_module.pipeline_core.errors import TransientError
from analysis_module.pipeline_core.sink import FinishedJob

if TYPE_CHECKING:
    from analysis_module.app.runner import JobAnalysisResult, Runner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroupLimits:
    max_jobs: int = 500
    # samples held in the whole group: two of DuckDB's row groups (122,880 rows). An insert
    # of at least a row group is written straight to a DuckDB file, its COMMIT records where;
    # a smaller one goes through the write-ahead log, and its COMMIT and the checkpoint after
    # it copy every row twice (a group of 10-minute jobs commits 10x faster at this size).
    max_rows: int = 245_760
    max_job_rows: int = 50_000  # a job with more samples streams on its own
    max_seconds: float = 5.0  # the oldest held job's wait, checked when the next job starts


@dataclass
class _Held:
    outcome: JobAnalysisResult
    job: FinishedJob | None = None  # results not yet written
    files: JobFiles | None = None


class BufferedJobWriter:
    """The `JobWriter` the runner gets inside a group: rows kept in memory, or streamed to a
    writer of the sink's own once the job proves big."""

    def __init__(self, group: CommitGroup, files: JobFiles, table_name: str):
        self.group = group
        self.files = files
        self.source = files.job.source
        self.table_name = table_name
        self.parts: list[pa.Table] = []
        self.rows = 0
        self.direct = None  # the sink's writer of a big job
        self.finished: FinishedJob | None = None

    def append_timeseries(self, rows: pa.Table) -> None:
        if self.direct is not None:
            self.direct.append_timeseries(rows)
            return
        self.parts.append(rows)
        self.rows += rows.num_rows
        if self.rows > self.group.limits.max_job_rows:
            self.group.write_held()
            self.direct = self.group.runner.sink.open_job(self.source, self.table_name)
            for part in self.parts:
                self.direct.append_timeseries(part)
            self.parts = []

    def finish(self, summary: pa.Table, breakdown: pa.Table, files: pa.Table | None = None) -> None:
        if self.direct is not None:
            self.direct.finish(summary, breakdown, files)
            return
        self.finished = FinishedJob(
            self.source, self.table_name, tuple(self.parts), summary, breakdown, files
        )

    def abort(self) -> None:
        if self.direct is not None:
            self.direct.abort()
        self.parts, self.finished = [], None


class CommitGroup:
    """`with CommitGroup(runner) as group:` then `group.analyse(job)` per job and
    `group.close()` at the end; both return the outcomes that became final, in order."""

    def __init__(
        self,
        runner: Runner,
        limits: GroupLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.runner = runner
        self.limits = limits or GroupLimits()
        self.clock = clock
        self._held: list[_Held] = []
        self._writer: BufferedJobWriter | None = None
        self._since: float | None = None  # when the oldest unwritten job was held
        # the unwritten jobs' table names (-> source) and samples, kept as jobs are held: a
        # group of hundreds is not scanned again for every job
        self._unwritten_tables: dict[str, str] = {}
        self._unwritten_sources: set[str] = set()
        self._unwritten_rows = 0

    def __enter__(self) -> CommitGroup:
        self.runner.group = self
        return self

    def __exit__(self, *exc_info) -> None:
        self.runner.group = None  # what is still held is lost, as in a crash: not recorded

    # -- the runner's side -------------------------------------------------------------------

    def open_job(self, files: JobFiles, table_name: str) -> BufferedJobWriter:
        self._writer = BufferedJobWriter(self, files, table_name)
        return self._writer

    def owner_of_table(self, table_name: str) -> str | None:
        held_by = self._unwritten_tables.get(table_name)
        return held_by if held_by is not None else self.runner.sink.owner_of_table(table_name)

    # -- the caller's side -------------------------------------------------------------------

    def analyse(self, job: JobInput) -> list[JobAnalysisResult]:
        if self._holds(job.source) or self._waited_too_long():
            self.write_held()
        self._writer = None
        outcome = self.runner.analyse_job(job)
        writer, self._writer = self._writer, None
        if outcome.status == "ok" and writer is not None and writer.finished is not None:
            self._held.append(_Held(outcome, writer.finished, writer.files))
            self._unwritten_tables[writer.finished.table_name] = writer.finished.source
            self._unwritten_sources.add(writer.finished.source)
            self._unwritten_rows += writer.finished.sample_rows
            self._since = self.clock() if self._since is None else self._since
            if (
                len(self._unwritten_tables) >= self.limits.max_jobs
                or self._unwritten_rows >= self.limits.max_rows
            ):
                self.write_held()
        else:
            self._held.append(_Held(outcome))
        return self._take_final()

    def close(self) -> list[JobAnalysisResult]:
        self.write_held()
        return self._take_final()

    # -- writing -----------------------------------------------------------------------------

    def write_held(self) -> None:
        """Write every held job (one transaction; each alone when that fails)."""
        pending = [held for held in self._held if held.job is not None]
        self._since = None
        if not pending:
            return
        try:
            self._write(pending)
        finally:  # what a transient failure left unwritten is still held
            self._count_unwritten()

    def _write(self, pending: list[_Held]) -> None:
        try:
            self.runner.sink.write_jobs([held.job for held in pending])
        except TransientError:
            if len(pending) == 1:
                raise
            self._write_alone(pending)
        except Exception as exc:  # noqa: BLE001 (recorded as the job's failure, or retried alone)
            if len(pending) == 1:
                self._stored_failed(pending[0], exc)
            else:
                log.warning(
                    "a group of %d jobs could not be written (%s); writing each alone",
                    len(pending),
                    one_line(exc, {}),
                )
                self._write_alone(pending)
        for held in pending:
            held.job = None

    def _count_unwritten(self) -> None:
        jobs = [held.job for held in self._held if held.job is not None]
        self._unwritten_tables = {job.table_name: job.source for job in jobs}
        self._unwritten_sources = {job.source for job in jobs}
        self._unwritten_rows = sum(job.sample_rows for job in jobs)

    def _write_alone(self, pending: list[_Held]) -> None:
        for held in pending:
            try:
                self.runner.sink.write_jobs([held.job])
            except TransientError:
                raise
            except Exception as exc:  # noqa: BLE001 (recorded as the job's failure)
                self._stored_failed(held, exc)
            held.job = None

    def _stored_failed(self, held: _Held, exc: Exception) -> None:
        """The job's results could not be stored: it is recorded as failed, with the reason."""
        self.runner.saw_unexpected_error = True
        self.runner._renew_sink()
        detail = one_line(exc, held.files.hide)
        reason = f"internal error: the results could not be stored: {detail}"
        held.outcome = self.runner._failed(held.files, reason, INTERNAL)

    def _take_final(self) -> list[JobAnalysisResult]:
        final = []
        while self._held and self._held[0].job is None:
            final.append(self._held.pop(0).outcome)
        return final

    def _holds(self, source: str) -> bool:
        return source in self._unwritten_sources

    def _waited_too_long(self) -> bool:
        return self._since is not None and self.clock() - self._since >= self.limits.max_seconds
