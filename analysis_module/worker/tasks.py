"""The queue's tasks: thin wrappers that take ids and call the service.

Resources (the store, S3, the analysis engine) are built once per worker process and reach the
tasks through procrastinate's job context (`additional_context["ingest"]`), never through
module globals. Task names: `ingest:analyse_object`, `ingest:apply_removal`,
`ingest:analyse_job` (the files of one Slurm job together), `ingest:rescan_bucket` (periodic,
INGEST_RESCAN_CRON) and `ingest:prune_history` (daily). The object and job tasks return the
service's `TaskResult`, whose outcome the worker counts.
"""

from __future__ import annotations

import logging

from procrastinate import Blueprint, JobContext

from analysis_module.connectors import queue
from analysis_module.ingest import job_service, rescan, service
from analysis_module.pipeline_core.identity import object_source
from analysis_module.settings import AnalysisSettings

log = logging.getLogger(__name__)

CONTEXT_KEY = "ingest"


def _deps(context: JobContext) -> service.WorkerDeps:
    return context.additional_context[CONTEXT_KEY]


def _not_watched(bucket: str) -> service.TaskResult:
    return service.TaskResult(
        service.TaskOutcome.SUPERSEDED, f"bucket {bucket!r} is not watched any more"
    )


def ingest_blueprint(settings: AnalysisSettings) -> Blueprint:
    """The tasks, with the retry policy and the rescan schedule of these settings."""
    blueprint = Blueprint()
    _add_object_tasks(blueprint, settings)
    rescan_bucket, prune_history = _add_housekeeping_tasks(blueprint, settings)
    if settings.ingest_rescan_cron:
        blueprint.periodic(cron=settings.ingest_rescan_cron, periodic_id="rescan")(rescan_bucket)
    if settings.ingest_retention_days:
        blueprint.periodic(cron="17 3 * * *", periodic_id="prune")(prune_history)
    return blueprint


def _add_object_tasks(blueprint: Blueprint, settings: AnalysisSettings) -> None:
    """`analyse_object` and `apply_removal`: one object each, retried by the queue's policy."""
    retry = queue.retry_strategy(settings)

    @blueprint.task(name="analyse_object", pass_context=True, retry=retry)
    async def analyse_object(
        context: JobContext, bucket: str, key: str, etag: str | None = None
    ) -> service.TaskResult:
        """Analyse the object's current content (`etag` is what the event announced)."""
        deps = _deps(context)
        if bucket != deps.config.bucket:
            return _not_watched(bucket)
        result = await service.analyse_object(deps, key, job_attempt=context.job.attempts)
        log.info("%s: %s", object_source(bucket, key), result)
        return result

    @blueprint.task(name="analyse_job", pass_context=True, retry=retry)
    async def analyse_job(
        context: JobContext, bucket: str, job_source: str, lost_attempts: list[int] | None = None
    ) -> service.TaskResult:
        """Analyse the job from its files (queued with the job's lock and queueing lock).

        `lost_attempts`: the attempts whose worker died, noted by the stalled-job recovery
        (`queue.note_job_worker_lost`), never given when the job is queued."""
        deps = _deps(context)
        if bucket != deps.config.bucket:
            return _not_watched(bucket)
        result = await job_service.analyse_job(
            deps,
            job_source,
            job_attempt=context.job.attempts,
            worker_kills=len(lost_attempts or ()),
        )
        log.info("%s: %s", job_source, result)
        return result

    @blueprint.task(name="apply_removal", pass_context=True, retry=retry)
    async def apply_removal(context: JobContext, bucket: str, key: str) -> service.TaskResult:
        deps = _deps(context)
        if bucket != deps.config.bucket:
            return _not_watched(bucket)
        result = await service.apply_removal(deps, key)
        log.info("%s: %s", object_source(bucket, key), result)
        return result


def _add_housekeeping_tasks(blueprint: Blueprint, settings: AnalysisSettings) -> tuple:
    """`rescan_bucket` and `prune_history`, for the periodic schedule to call."""

    @blueprint.task(
        name="rescan_bucket",
        pass_context=True,
        queue=settings.ingest_queue,
        queueing_lock=queue.RESCAN_QUEUEING_LOCK,
    )
    async def rescan_bucket(context: JobContext, timestamp: int) -> dict[str, int]:
        deps = _deps(context)
        report = await rescan.rescan_bucket(
            deps.store, deps.objects, deps.config, prefix=settings.minio_prefix
        )
        log.info("rescan of %s: %s", deps.config.bucket, report)
        return {
            "listed": report.listed,
            "enqueued": report.enqueued,
            "removed": report.removed,
        }

    @blueprint.task(
        name="prune_history",
        pass_context=True,
        queue=settings.ingest_queue,
        queueing_lock=queue.PRUNE_QUEUEING_LOCK,
    )
    async def prune_history(context: JobContext, timestamp: int) -> dict[str, int]:
        """Forget finished queue jobs and event log entries older than the retention."""
        days = settings.ingest_retention_days
        await context.app.job_manager.delete_old_jobs(
            nb_hours=days * 24,
            queue=settings.ingest_queue,
            include_failed=True,
            include_cancelled=True,
            include_aborted=True,
        )
        return {"events_deleted": await _deps(context).store.prune_events(older_than_days=days)}

    return rescan_bucket, prune_history
