"""What the ingest services need of the outside world, as protocols (`typing.Protocol`).

The connectors satisfy them without importing this package: `connectors.ingest_store`
(`IngestStore`, `IngestTx`), `connectors.s3.ObjectStore` (`Objects`) and the worker's pool of
analysis runners (`Analyser`). The entry points and the worker hand the real ones in, so
`analysis_module.ingest` never imports `connectors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from analysis_module.pipeline_core.ingest_objects import Content, FailureKind, ObjectRow, Status


class IngestTx(Protocol):
    """One PostgreSQL transaction over the ingest tables and the job queue."""

    async def lock_object(self, bucket: str, key: str) -> ObjectRow | None: ...

    async def lock_or_create_object(
        self, *, bucket: str, key: str, source: str, owner: str | None
    ) -> tuple[ObjectRow, bool]: ...

    async def log_event(
        self,
        *,
        disposition: str,
        reason: str | None,
        payload: Any,
        event_name: str | None = None,
        bucket: str | None = None,
        key: str | None = None,
        etag: str | None = None,
        version_id: str | None = None,
    ) -> None: ...

    async def queue_analysis(
        self, row: ObjectRow, content: Content, *, new_content: bool
    ) -> None: ...

    async def queue_removal(self, row: ObjectRow, *, reason: str | None = None) -> None: ...

    async def mark_running(self, row: ObjectRow) -> None: ...

    async def mark_waiting_retry(self, row: ObjectRow, reason: str) -> None: ...

    async def note_timeout(self, row: ObjectRow, reason: str) -> None: ...

    async def note_worker_lost(self, source: str) -> bool: ...

    async def note_job_worker_lost(self, job_id: int) -> bool: ...

    async def mark_finished(
        self,
        row: ObjectRow,
        *,
        status: Status,
        error: str | None,
        content: Content | None = None,
        failure_kind: FailureKind | None = None,
    ) -> None: ...

    async def snapshot(self, bucket: str, keys: list[str]) -> dict[str, tuple[ObjectRow, bool]]: ...

    async def keys_not_in(self, bucket: str, prefix: str, seen: Iterable[str]) -> list[str]: ...

    async def set_job_member(
        self, row: ObjectRow, *, job_source: str, benchmark: str | None, work: str | None = None
    ) -> None: ...

    async def queue_job_analysis(self, bucket: str, job_source: str, *, quiet_s: float) -> bool: ...

    async def job_members(self, bucket: str, job_source: str) -> list[ObjectRow]: ...

    async def unjoined_csv(self, bucket: str, prefix: str) -> list[ObjectRow]: ...

    # `.csv` rows under `prefix` that are ok or failed and name no job yet, by key


class IngestStore(Protocol):
    """The ingest tables: transactions, and a read-only snapshot of many objects."""

    def transaction(self) -> AbstractAsyncContextManager[IngestTx]: ...

    async def snapshot(self, bucket: str, keys: list[str]) -> dict[str, tuple[ObjectRow, bool]]: ...

    async def prune_events(self, *, older_than_days: int) -> int: ...


class Objects(Protocol):
    """What the service needs of the object store (`connectors.s3.ObjectStore`)."""

    bucket: str

    def list_objects(self, prefix: str = "") -> Iterator[Any]: ...  # ObjectInfo per object

    def head(self, key: str) -> Any: ...  # ObjectInfo: key, etag, size, version_id

    def download(self, key: str, dest_path: Path, *, etag: str | None = None) -> str: ...


@dataclass(frozen=True)
class JobFile:
    """One downloaded file of a job: where it is, what it is, how reasons name it."""

    path: Path
    source: str
    etag: str | None
    label: str


@dataclass(frozen=True)
class JobRequest:
    """A job to analyse from its files (the worker's adapter makes a `runner.JobInput`)."""

    source: str  # the job's key, `<folder>/job_<jobid>`
    files: tuple[JobFile, ...]
    owner: str | None
    benchmark: str | None = None
    benchmark_set_by: str | None = None  # "upload" when `benchmark` came from the uploads
    likwid: tuple[JobFile, ...] = ()  # likwid-perfctr CSV output of the job
    work: tuple[str, float] | None = None  # the figure of merit its uploads gave (unit, value)
    work_note: str | None = None  # why an upload's figure was left out, or which one won


class Analyser(Protocol):
    """The analysis engine, awaitable (the worker wraps `runner.Runner` in threads)."""

    async def analyse(
        self,
        path: Path,
        *,
        source: str,
        owner: str | None,
        etag: str | None,
        label: str,
        budget_s: float | None = None,
    ) -> Any: ...

    # runner.JobAnalysisResult (status, error, failure_kind); TimeoutError after budget_s

    async def analyse_job(self, job: JobRequest, *, budget_s: float | None = None) -> Any: ...

    # runner.JobAnalysisResult (status, error, failure_kind, files: FileOutcome per file: source,
    # status, error, failure_kind); TimeoutError after budget_s

    async def record_job_failure(self, job: JobRequest, reason: str, kind: str) -> Any: ...

    # the job failed as a whole without being analysed (its files are not read): its
    # `job_summary` row failed with `reason`, every file failed with `reason` and `kind`

    async def mark_removed(self, source: str) -> None: ...
