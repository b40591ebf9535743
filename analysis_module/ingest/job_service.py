"""The analysis of a Slurm job from its files in the bucket (`ingest:analyse_job`).

The files of one job arrive one by one; each is checked on arrival (`service.analyse_object`)
and queues this analysis after the quiet period. It takes the job's files from
`ingest_objects` (checked ones, and failed ones so that the job reports them), downloads them
into one folder, has the engine analyse them as one job and records each file's fate on its
row. A job without any file left has its results removed. LIKWID output (`.csv`) of the job
is downloaded with its profiles, including files that arrived before the job had any. An
analysis that lost its worker twice (the stalled-job recovery counts kills) is not run again:
the job and its files are failed as a poison pill.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

from analysis_module.ingest import members
from analysis_module.ingest.downloads import download_folder
from analysis_module.ingest.ports import JobFile, JobRequest
from analysis_module.ingest.rules import (
    JOB_KILLED_TWICE,
    FailureKind,
    Status,
    is_final_attempt,
    job_poisoned,
)
from analysis_module.ingest.service import TaskOutcome, TaskResult, WorkerDeps, object_label
from analysis_module.pipeline_core.errors import ObjectNotFound, TerminalError, TransientError
from analysis_module.pipeline_core.ingest_objects import ObjectRow
from analysis_module.pipeline_core.job_files import split_source

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")


def _is_input(row: ObjectRow) -> bool:
    """Checked files, files failed for their content (the job reports them), and files failed
    because an earlier analysis of their job was given up as a poison pill (when the job is
    analysed again, after a change or a retry, it is with all of them)."""
    if row.status is Status.OK:
        return True
    if row.status is not Status.FAILED:
        return False
    return row.failure_kind is FailureKind.FILE or _failed_by_its_job(row)


def _failed_by_its_job(row: ObjectRow) -> bool:
    """Failed as a file of a poisoned job, not because its own check was a poison pill."""
    return row.failure_kind is FailureKind.POISON and row.error == JOB_KILLED_TWICE


async def analyse_job(
    deps: WorkerDeps, job_source: str, *, job_attempt: int, worker_kills: int = 0
) -> TaskResult:
    """Analyse the job from its files as they are now; returns how that ended.

    `worker_kills`: earlier attempts of this analysis whose worker died (killed, out of
    memory); at `rules.POISON_LIMIT` the job is failed as a poison pill instead of run.

    Raises `TransientError` (retried) for outages, a timeout or a defect, and `TerminalError`
    when no file of the job could be read or it is a poison pill (the job is recorded failed).
    """
    async with deps.store.transaction() as tx:
        await _adopt_likwid(tx, deps.config.bucket, job_source)
        rows = await tx.job_members(deps.config.bucket, job_source)
    likwid = [row for row in rows if members.is_likwid(row.source) and _is_input(row)]
    rows = [row for row in rows if not members.is_likwid(row.source)]
    if not rows:
        await deps.analyser.mark_removed(job_source)
        return TaskResult(TaskOutcome.REMOVED, "no file of the job is left: results removed")
    inputs = [row for row in rows if _is_input(row)]
    if not inputs:
        return TaskResult(TaskOutcome.SUPERSEDED, "no file of the job is checked yet")
    poisoned = job_poisoned(worker_kills)
    if poisoned is not None:
        await _give_up(deps, job_source, inputs, poisoned)
        raise TerminalError(poisoned)
    try:
        outcome = await _download_and_analyse(deps, job_source, inputs, likwid)
    except TransientError as exc:
        await _note_job_failure(deps, inputs, str(exc), job_attempt=job_attempt)
        raise
    except TerminalError:
        raise
    except Exception as exc:
        reason = f"internal error: {' '.join(repr(exc).split())[:500]}"
        log.exception("analysis of the job %s raised", job_source)
        await _note_job_failure(deps, inputs, reason, job_attempt=job_attempt)
        raise TransientError(reason) from exc
    if outcome is None:
        return TaskResult(TaskOutcome.SUPERSEDED, "the job's files are gone")
    await _record_files(deps, inputs + likwid, outcome)
    if outcome.status != "ok":
        raise TerminalError(outcome.error or "the job could not be analysed")
    failed = sum(1 for file in outcome.files if file.status != "ok")
    return TaskResult(
        TaskOutcome.OK, f"analysed {len(outcome.files)} file(s) of the job, {failed} failed"
    )


async def _give_up(deps: WorkerDeps, job_source: str, inputs: list[ObjectRow], reason: str):
    """The job is not analysed again: its `job_summary` row is failed with the reason (the
    engine reads none of its files), and so are its checked files, kind `poison`, so that
    `--rescan --retry-failed` (or a new upload of one of them) analyses the job again. An
    outage raises `TransientError`: the next attempt gives up again."""
    log.warning("%s: %s", job_source, reason)
    benchmark = members.job_benchmark(row.benchmark for row in inputs)
    request = JobRequest(
        source=job_source,
        files=tuple(_unread_file(row) for row in inputs),
        owner=inputs[0].owner,
        benchmark=benchmark,
        benchmark_set_by=members.SET_BY_UPLOAD if benchmark else None,
    )
    try:
        await deps.analyser.record_job_failure(request, reason, FailureKind.POISON.value)
    except TransientError:
        raise
    except Exception:  # a defect there must not keep the files from being failed
        log.exception("could not record the failure of the job %s", job_source)
    async with deps.store.transaction() as tx:
        for started in inputs:  # key order: one lock order for every transaction
            row = await tx.lock_object(started.bucket, started.key)
            if row is not None and row.etag == started.etag and row.status is Status.OK:
                await tx.mark_finished(
                    row, status=Status.FAILED, error=reason, failure_kind=FailureKind.POISON
                )


def _unread_file(row: ObjectRow) -> JobFile:
    """The file as a failure names it, without downloading it (`path` is not read)."""
    label = object_label(row)
    return JobFile(path=Path(label), source=row.source, etag=row.etag, label=label)


async def _adopt_likwid(tx, bucket: str, job_source: str) -> None:
    """LIKWID files recorded before any job of theirs had profiles join this job when it is
    the nearest of their jobs with profiles."""
    folder = split_source(job_source)[0].removeprefix(f"s3://{bucket}").lstrip("/")
    for row in await tx.unjoined_csv(bucket, f"{folder}/" if folder else ""):
        keys = members.likwid_candidates(row.source)
        if job_source not in keys:
            continue
        if await _nearer_job(tx, bucket, keys[: keys.index(job_source)]):
            continue
        locked = await tx.lock_object(row.bucket, row.key)
        if locked is not None and locked.job_source is None and locked.etag == row.etag:
            await tx.set_job_member(locked, job_source=job_source, benchmark=None)


async def _nearer_job(tx, bucket: str, keys: list[str]) -> bool:
    for key in keys:
        if members.has_profiles(await tx.job_members(bucket, key)):
            return True
    return False


async def _download_and_analyse(
    deps: WorkerDeps, job_source: str, inputs: list[ObjectRow], likwid: list[ObjectRow]
):
    """The engine's outcome for the job's files, or None when none could be downloaded."""
    budget = deps.config.job_timeout_s
    with download_folder(deps.config.download_dir) as folder:
        files = await _download(deps, inputs, folder)
        if not files:
            return None
        likwid_files = await _download(deps, likwid, folder, subfolders=True)
        benchmark = members.job_benchmark(row.benchmark for row in inputs)
        work, work_note = members.job_work(inputs)
        request = JobRequest(
            source=job_source,
            files=tuple(files),
            owner=inputs[0].owner,
            benchmark=benchmark,
            benchmark_set_by=members.SET_BY_UPLOAD if benchmark else None,
            likwid=tuple(likwid_files),
            work=work,
            work_note=work_note,
        )
        try:
            return await deps.analyser.analyse_job(request, budget_s=budget)
        except TimeoutError:
            reason = f"the job's analysis took longer than INGEST_JOB_TIMEOUT_S ({budget:g} s)"
            log.warning("%s: %s", job_source, reason)
            raise TransientError(reason) from None


async def _download(
    deps: WorkerDeps, inputs: list[ObjectRow], folder: Path, *, subfolders: bool = False
) -> list[JobFile]:
    """Each file as it was checked (If-Match on its ETag); a vanished one is left out and
    queued for removal, which analyses the job again. `subfolders`: one folder per file (LIKWID
    files of several folders may share a name)."""
    files = []
    for index, row in enumerate(inputs):
        name = row.key.rpartition("/")[2]
        suffix = Path(name).suffix.lower() or ".h5"
        path = folder / (name if _SAFE_NAME.fullmatch(name) else f"file-{index}{suffix}")
        if subfolders:
            path = folder / f"likwid-{index}" / path.name
            path.parent.mkdir()
        try:
            etag = await asyncio.to_thread(deps.objects.download, row.key, path, etag=row.etag)
        except ObjectNotFound:
            await _vanished(deps, row)
            continue
        files.append(JobFile(path=path, source=row.source, etag=etag, label=object_label(row)))
    return files


async def _vanished(deps: WorkerDeps, started: ObjectRow) -> None:
    async with deps.store.transaction() as tx:
        row = await tx.lock_object(started.bucket, started.key)
        if row is not None and row.status is not Status.REMOVED:
            await tx.queue_removal(row, reason="object no longer exists")


async def _record_files(deps: WorkerDeps, inputs: list[ObjectRow], outcome) -> None:
    """Each file's fate on its row, unless the row moved on (new content, removed)."""
    by_source = {file.source: file for file in outcome.files}
    async with deps.store.transaction() as tx:
        for started in inputs:  # key order: one lock order for every transaction
            file = by_source.get(started.source)
            if file is None:
                continue
            row = await tx.lock_object(started.bucket, started.key)
            if row is None or row.etag != started.etag or not _is_input(row):
                continue
            ok = file.status == "ok"
            kind = None if ok else FailureKind(file.failure_kind or FailureKind.FILE)
            await tx.mark_finished(
                row,
                status=Status.OK if ok else Status.FAILED,
                error=None if ok else file.error,
                failure_kind=kind,
            )


async def _note_job_failure(
    deps: WorkerDeps, inputs: list[ObjectRow], reason: str, *, job_attempt: int
) -> None:
    """After the last attempt, the job's checked files are failed with the reason, so that the
    next rescan queues them (and through them the job) again. Best effort."""
    if not is_final_attempt(job_attempt, deps.config.max_attempts):
        return
    error = f"the job's analysis gave up after {job_attempt + 1} attempts: {reason}"
    kind = FailureKind.INTERNAL if reason.startswith("internal error") else FailureKind.TRANSIENT
    try:
        async with deps.store.transaction() as tx:
            for started in inputs:
                row = await tx.lock_object(started.bucket, started.key)
                if row is not None and row.etag == started.etag and row.status is Status.OK:
                    await tx.mark_finished(
                        row, status=Status.FAILED, error=error, failure_kind=kind
                    )
    except TransientError as exc:
        log.warning("could not record the failure of the job's files: %s", exc)
