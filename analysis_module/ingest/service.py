"""The worker's side of ingestion: running an object's analysis, applying a removal.

Each function opens its own transactions on the `IngestStore` and applies the pure rules of
`rules.py` while holding the object's row lock (what arrives is recorded by
`notifications.py`). S3 and the analysis engine are reached through the protocols of
`ports.py` (the worker passes `ObjectStore` and a pool of `Runner`s), and their blocking calls
run in threads.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from analysis_module.ingest import members, rules
from analysis_module.ingest.config import IngestConfig
from analysis_module.ingest.downloads import download_path
from analysis_module.ingest.notifications import observe_content
from analysis_module.ingest.ports import Analyser, IngestStore, Objects
from analysis_module.ingest.quota import (
    OwnerListings,
    measure_listing,
    over_quota_reason,
    usage_up_to,
)
from analysis_module.ingest.rules import FailureKind, Status
from analysis_module.pipeline_core.errors import ObjectNotFound, TerminalError, TransientError
from analysis_module.pipeline_core.ingest_objects import Content, ObjectRow

log = logging.getLogger(__name__)


@dataclass
class WorkerDeps:
    store: IngestStore
    objects: Objects
    analyser: Analyser
    config: IngestConfig
    listings: OwnerListings | None = None  # owners' recent listings (None: list every time)


class TaskOutcome(StrEnum):
    """How a job that did not fail ended (failures raise; the worker counts all of them)."""

    OK = "ok"  # analysed, and the result recorded
    SUPERSEDED = "superseded"  # nothing left to do, or a newer job records the result
    REMOVED = "removed"  # the object is gone: its results are (or are about to be) marked so


@dataclass(frozen=True)
class TaskResult:
    outcome: TaskOutcome
    detail: str  # what happened, in a few words

    def __str__(self) -> str:
        return self.detail


async def analyse_object(deps: WorkerDeps, key: str, *, job_attempt: int) -> TaskResult:
    """Analyse the object's current content once; returns how that ended.

    A file of a Slurm job (`members.job_of`) is only checked: its job's analysis is queued
    after the quiet period (`job_service.analyse_job`).

    Raises `TransientError` when S3 or a database is unreachable (the job is retried) and
    `TerminalError` when the file or the object cannot be analysed (it is not).
    """
    row, start = await _start(deps, key, job_attempt=job_attempt)
    if not start.run:
        return TaskResult(TaskOutcome.SUPERSEDED, start.reason or "skipped")

    job = members.job_of(row.source)
    likwid = members.is_likwid(row.source)  # read by its job's analysis, not here
    try:
        info = await asyncio.to_thread(deps.objects.head, key)
        over_quota = await _over_quota(deps, row, info)
        if over_quota:
            raise TerminalError(over_quota)  # recorded below; the object stays in the bucket
        if likwid:
            return await _finish_likwid(deps, row, Content(info.etag, info.version_id, info.size))
        with download_path(deps.config.download_dir) as path:
            etag = await asyncio.to_thread(deps.objects.download, key, path, etag=info.etag)
            if job is not None:
                limits = deps.config.read_limits
                problem = await asyncio.to_thread(
                    members.check_file, path, limits, object_label(row)
                )
            else:
                outcome = await _analyse_within_budget(deps, row, path, etag)
    except ObjectNotFound:
        await _object_vanished(deps, row)
        return TaskResult(TaskOutcome.REMOVED, "object no longer exists")
    except _TimedOut:
        raise
    except TransientError as exc:
        await _note_transient_failure(deps, row, str(exc), job_attempt=job_attempt)
        raise
    except TerminalError as exc:  # S3 refused (credentials, permissions), or over quota
        await _finish(deps, row, Content(row.etag), Status.FAILED, str(exc), FailureKind.CONFIG)
        raise
    except Exception as exc:
        # Not a file problem (those come back as a failed outcome) nor a known outage: a defect
        # or a race with a concurrent job. Retried like an outage, with the same bound.
        reason = f"internal error: {' '.join(repr(exc).split())[:500]}"
        log.exception("analysis of %s raised", row.source)
        await _note_transient_failure(deps, row, reason, job_attempt=job_attempt)
        raise TransientError(reason) from exc

    content = Content(etag, info.version_id, info.size)
    if job is not None:
        metadata = getattr(info, "metadata", None)
        benchmark, work = members.upload_benchmark(metadata), members.upload_work(metadata)
        return await _finish_member(deps, row, content, job, benchmark, problem, work=work)
    return await _record_analysis(deps, row, content, outcome)


async def _record_analysis(
    deps: WorkerDeps, row: ObjectRow, content: Content, analysis
) -> TaskResult:
    """Record the runner's `JobAnalysisResult` of the object; TerminalError when it failed."""
    status = Status.OK if analysis.status == "ok" else Status.FAILED
    kind = None
    if status is Status.FAILED:
        kind = FailureKind(analysis.failure_kind or FailureKind.FILE)
    recorded = await _finish(deps, row, content, status, analysis.error, kind)
    if status is Status.FAILED:
        raise TerminalError(analysis.error or "analysis failed")
    if not recorded:
        return TaskResult(
            TaskOutcome.SUPERSEDED, f"analysed {content.etag}; a newer job records the status"
        )
    return TaskResult(TaskOutcome.OK, f"analysed {content.etag}")


async def _start(deps: WorkerDeps, key: str, *, job_attempt: int):
    """Decide whether this job runs (the row set `running`); TerminalError when it gives up."""
    config = deps.config
    async with deps.store.transaction() as tx:
        row = await tx.lock_object(config.bucket, key)
        start = rules.decide_start(
            row.state if row else None,
            job_attempt=job_attempt,
            max_attempts=config.max_attempts,
            worker_kills=row.worker_kills if row else 0,
            timeouts=row.timeouts if row else 0,
        )
        if start.give_up:
            gave_up = start.reason if start.poison else _gave_up(row, start.reason)
            kind = FailureKind.POISON if start.poison else _kind_of_transient(row.error)
            await tx.mark_finished(row, status=Status.FAILED, error=gave_up, failure_kind=kind)
        elif start.run:
            await tx.mark_running(row)
            row = replace(row, status=Status.RUNNING, attempts=row.attempts + 1)
    if start.give_up:
        raise TerminalError(gave_up)
    return row, start


async def _over_quota(deps: WorkerDeps, row: ObjectRow, info) -> str | None:
    """The reason the owner's quota refuses this upload, or None (one listing of the
    owner's namespace, or none when a recent one proves it within the quota; objects outside
    any namespace are not checked)."""
    quota = deps.config.owner_quota
    if quota is None or row.owner is None:
        return None
    listings = deps.listings
    kept = listings.covering(row.owner, info) if listings is not None else None
    if kept is not None and over_quota_reason(usage_up_to(kept, info), quota) is None:
        return None  # within the quota by a listing holding every object that counts

    def measure():
        listing = deps.objects.list_objects(row.owner + "/")
        if listings is None:
            return usage_up_to(listing, info), None
        return measure_listing(listing, info, keep_up_to=listings.max_objects)

    usage, listing = await asyncio.to_thread(measure)
    if listings is not None:
        listings.keep(row.owner, listing)
    reason = over_quota_reason(usage, quota)
    if reason:
        log.warning("%s: %s", row.source, reason)
    return reason


async def _analyse_within_budget(deps: WorkerDeps, row: ObjectRow, path: Path, etag: str):
    """The analysis, cut off after INGEST_JOB_TIMEOUT_S (a timeout counts towards a poison
    pill and is retried like an outage)."""
    budget = deps.config.job_timeout_s
    try:
        return await deps.analyser.analyse(
            path,
            source=row.source,
            owner=row.owner,
            etag=etag,
            label=object_label(row),
            budget_s=budget,
        )
    except TimeoutError:
        reason = f"the analysis took longer than INGEST_JOB_TIMEOUT_S ({budget:g} s)"
        log.warning("%s: %s", row.source, reason)
        async with deps.store.transaction() as tx:
            current = await tx.lock_object(row.bucket, row.key)
            if current is not None and current.state == row.state:
                await tx.note_timeout(current, reason)
        raise _TimedOut(reason) from None


class _TimedOut(TransientError):
    """The timeout is recorded already (`note_timeout`); the job is retried."""


def object_label(row: ObjectRow) -> str:
    """How a failure names the object: its key inside the user's namespace."""
    if row.owner and row.key.startswith(row.owner + "/"):
        return row.key[len(row.owner) + 1 :]
    return row.key


def _kind_of_transient(reason: str | None) -> FailureKind:
    if reason and reason.startswith("internal error"):
        return FailureKind.INTERNAL
    return FailureKind.TRANSIENT


async def _finish(
    deps: WorkerDeps,
    started: ObjectRow,
    content: Content,
    status: Status,
    error: str | None,
    failure_kind: FailureKind | None = None,
) -> bool:
    """Record the analysis' status unless the row moved on meanwhile; True when recorded."""
    async with deps.store.transaction() as tx:
        row = await tx.lock_object(started.bucket, started.key)
        if rules.finish_applies(
            row.state if row else None,
            attempt=started.attempts,
            started_etag=started.etag,
            analysed_etag=content.etag,
        ):
            await tx.mark_finished(
                row, status=status, error=error, content=content, failure_kind=failure_kind
            )
            return True
    log.info("%s changed while it was analysed; a newer job writes", started.source)
    return False


async def _finish_member(
    deps: WorkerDeps,
    started: ObjectRow,
    content: Content,
    job: str,
    benchmark: str | None,
    problem: str | None,
    *,
    work: str | None = None,
) -> TaskResult:
    """A job's file was checked: record it (ok, or failed with the reason) as a file of `job`
    and queue the job's analysis after the quiet period, all in one transaction."""
    status = Status.FAILED if problem else Status.OK
    kind = FailureKind.FILE if problem else None
    async with deps.store.transaction() as tx:
        row = await tx.lock_object(started.bucket, started.key)
        recorded = rules.finish_applies(
            row.state if row else None,
            attempt=started.attempts,
            started_etag=started.etag,
            analysed_etag=content.etag,
        )
        if recorded:
            await tx.mark_finished(
                row, status=status, error=problem, content=content, failure_kind=kind
            )
            await tx.set_job_member(row, job_source=job, benchmark=benchmark, work=work)
            await tx.queue_job_analysis(row.bucket, job, quiet_s=deps.config.job_quiet_s)
    if not recorded:
        log.info("%s changed while it was checked; a newer job writes", started.source)
        return TaskResult(TaskOutcome.SUPERSEDED, "a newer job records the status")
    if problem:
        raise TerminalError(problem)  # the job's analysis reports the file failed
    return TaskResult(TaskOutcome.OK, f"checked {content.etag}; {job} is analysed when quiet")


async def _finish_likwid(deps: WorkerDeps, started: ObjectRow, content: Content) -> TaskResult:
    """A LIKWID file arrived: record it as a file of the nearest job with profiles and queue
    that job's analysis; without such a job yet, that job's own analysis picks it up."""
    async with deps.store.transaction() as tx:
        row = await tx.lock_object(started.bucket, started.key)
        recorded = rules.finish_applies(
            row.state if row else None,
            attempt=started.attempts,
            started_etag=started.etag,
            analysed_etag=content.etag,
        )
        job = None
        if recorded:
            await tx.mark_finished(row, status=Status.OK, error=None, content=content)
            job = await members.likwid_job_of(tx, row.bucket, row.source)
            if job is not None:
                await tx.set_job_member(row, job_source=job, benchmark=None)
                await tx.queue_job_analysis(row.bucket, job, quiet_s=deps.config.job_quiet_s)
    if not recorded:
        return TaskResult(TaskOutcome.SUPERSEDED, "a newer job records the status")
    if job is None:
        return TaskResult(TaskOutcome.OK, "LIKWID file recorded; no job of it has profiles yet")
    return TaskResult(TaskOutcome.OK, f"LIKWID file of {job}; analysed when quiet")


async def _note_transient_failure(
    deps: WorkerDeps, started: ObjectRow, reason: str, *, job_attempt: int
) -> None:
    """Best effort: the database may be the thing that is down."""
    final = rules.is_final_attempt(job_attempt, deps.config.max_attempts)
    try:
        async with deps.store.transaction() as tx:
            row = await tx.lock_object(started.bucket, started.key)
            if row is None or row.state != started.state:
                return  # removed, superseded or taken over by a later attempt meanwhile
            if final:
                error = f"gave up after {job_attempt + 1} attempts: {reason}"
                kind = _kind_of_transient(reason)
                await tx.mark_finished(row, status=Status.FAILED, error=error, failure_kind=kind)
            else:
                await tx.mark_waiting_retry(row, reason)
    except TransientError as exc:
        log.warning("could not record the failure of %s: %s", started.source, exc)


async def _object_vanished(deps: WorkerDeps, started: ObjectRow) -> None:
    async with deps.store.transaction() as tx:
        row = await tx.lock_object(started.bucket, started.key)
        if row is not None and row.status is not Status.REMOVED:
            await tx.queue_removal(row, reason="object no longer exists")


def _gave_up(row: ObjectRow, reason: str | None) -> str:
    return f"{reason}: {row.error}" if row.error else (reason or "gave up")


async def apply_removal(deps: WorkerDeps, key: str) -> TaskResult:
    """The object was removed: mark its results removed, unless it is back in the bucket."""
    config = deps.config
    async with deps.store.transaction() as tx:
        row = await tx.lock_object(config.bucket, key)
    if row is None or row.status is not Status.REMOVED:
        return TaskResult(TaskOutcome.SUPERSEDED, "object is not removed any more")
    try:
        info = await asyncio.to_thread(deps.objects.head, key)
    except ObjectNotFound:
        return await _results_removed(deps, row)
    # Notifications are not ordered: the object was uploaded again after this removal.
    async with deps.store.transaction() as tx:
        decision = await observe_content(
            tx, key, Content(info.etag, info.version_id, info.size), config
        )
    return TaskResult(TaskOutcome.SUPERSEDED, f"object exists again: {decision.reason}")


async def _results_removed(deps: WorkerDeps, row: ObjectRow) -> TaskResult:
    """The object is gone: its results are marked removed, or its job is analysed again
    without it after the quiet period (the job's last file removes the job)."""
    job = members.job_of(row.source)
    if members.is_likwid(row.source):
        if row.job_source is None:
            return TaskResult(TaskOutcome.REMOVED, "LIKWID file of no job removed")
        job = row.job_source
    if job is None:
        await deps.analyser.mark_removed(row.source)
        return TaskResult(TaskOutcome.REMOVED, "results marked removed")
    async with deps.store.transaction() as tx:
        await tx.queue_job_analysis(row.bucket, job, quiet_s=deps.config.job_quiet_s)
    return TaskResult(TaskOutcome.REMOVED, f"file removed; {job} is analysed again")
