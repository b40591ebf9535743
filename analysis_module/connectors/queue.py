"""The job queue: procrastinate on PostgreSQL (psycopg 3), in the same database as the results.

Why procrastinate: jobs live in PostgreSQL, so the listener records an event and enqueues its
job in one transaction (no outbox, no second broker); it has per-lock mutual exclusion, retries
with a pluggable strategy, periodic tasks deduplicated across workers, LISTEN/NOTIFY wake-ups
and worker heartbeats to find jobs whose worker died.

Every job on an object carries `lock = s3://<bucket>/<key>`: procrastinate never runs two jobs
with the same lock at once, and starts them in the order they were queued. A job's analysis
(`analyse_job`, of the files of one Slurm job) carries the job's key (`<folder>/job_<jobid>`) as
its lock and as its queueing lock: at most one waits, and its start moves back with every new
arrival until the job's files have been quiet for INGEST_JOB_QUIET_S.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import procrastinate
from procrastinate import exceptions as queue_exceptions
from procrastinate import retry as queue_retry
from procrastinate.jobs import Job

from analysis_module.pipeline_core.errors import TransientError
from analysis_module.pipeline_core.identity import object_source
from analysis_module.settings import AnalysisSettings

log = logging.getLogger(__name__)

NAMESPACE = "ingest"
ANALYSE_TASK = f"{NAMESPACE}:analyse_object"
REMOVE_TASK = f"{NAMESPACE}:apply_removal"
JOB_TASK = f"{NAMESPACE}:analyse_job"
RESCAN_TASK = f"{NAMESPACE}:rescan_bucket"
PRUNE_TASK = f"{NAMESPACE}:prune_history"
RESCAN_QUEUEING_LOCK = "ingest-rescan"
PRUNE_QUEUEING_LOCK = "ingest-prune"


class TransientBackoff(queue_retry.BaseRetryStrategy):
    """Retry only `TransientError`, after base * 2**attempt seconds (capped, +-20 % jitter).

    `max_attempts` counts runs, the first one included; a job whose worker died spent one.
    """

    def __init__(self, *, max_attempts: int, base_s: float, max_s: float):
        self.max_attempts = max_attempts
        self.base_s = base_s
        self.max_s = max_s

    def delay_s(self, attempt: int) -> float:
        delay = min(self.max_s, self.base_s * 2**attempt)
        return delay * random.uniform(0.8, 1.2)

    def get_retry_decision(
        self, *, exception: BaseException, job: Job
    ) -> queue_retry.RetryDecision | None:
        if isinstance(exception, asyncio.CancelledError | queue_exceptions.JobAborted):
            # the worker shut down mid-job (a user's abort request is failed by procrastinate
            # itself): run it again elsewhere, now
            return queue_retry.RetryDecision(retry_in={"seconds": 0})
        if not isinstance(exception, TransientError):
            return None
        if job.attempts + 1 >= self.max_attempts:
            return None
        return queue_retry.RetryDecision(retry_in={"seconds": self.delay_s(job.attempts)})


def retry_strategy(settings: AnalysisSettings) -> TransientBackoff:
    return TransientBackoff(
        max_attempts=settings.ingest_max_attempts,
        base_s=settings.ingest_retry_base_s,
        max_s=settings.ingest_retry_max_s,
    )


def build_queue_app(
    settings: AnalysisSettings, *, blueprint: procrastinate.Blueprint | None = None, **pool: Any
) -> procrastinate.App:
    """A procrastinate App on the settings' database; `blueprint` brings the tasks (workers).

    `pool` goes to psycopg_pool (min_size, max_size, ...). The app is not opened here.
    """
    connector = procrastinate.PsycopgConnector(
        conninfo=settings.postgres_dsn(), kwargs={"application_name": "benchsuite-ingest"}, **pool
    )
    app = procrastinate.App(connector=connector)
    if blueprint is not None:
        app.add_tasks_from(blueprint, namespace=NAMESPACE)
    return app


async def defer_analysis(
    app: procrastinate.App, connection: Any, *, queue: str, bucket: str, key: str, etag: str | None
) -> int:
    """Queue an analysis of the object's current content inside the caller's transaction."""
    deferrer = app.configure_task(
        ANALYSE_TASK, queue=queue, lock=object_source(bucket, key), connection=connection
    )
    return await deferrer.defer_async(bucket=bucket, key=key, etag=etag)


async def defer_removal(
    app: procrastinate.App, connection: Any, *, queue: str, bucket: str, key: str
) -> int:
    """Queue marking the object's results removed, inside the caller's transaction."""
    deferrer = app.configure_task(
        REMOVE_TASK, queue=queue, lock=object_source(bucket, key), connection=connection
    )
    return await deferrer.defer_async(bucket=bucket, key=key)


async def defer_job_analysis(
    app: procrastinate.App,
    connection: Any,
    *,
    queue: str,
    bucket: str,
    job_source: str,
    quiet_s: float,
) -> bool:
    """Analyse the job `quiet_s` from now, inside the caller's transaction: the waiting
    analysis of the job is moved back to then, or a new one is queued (True)."""
    cursor = await connection.execute(
        """UPDATE procrastinate_jobs
           SET scheduled_at = GREATEST(scheduled_at, now() + make_interval(secs => %s))
           WHERE queueing_lock = %s AND status = 'todo'""",
        (quiet_s, job_source),
    )
    if cursor.rowcount:
        return False
    deferrer = app.configure_task(
        JOB_TASK,
        queue=queue,
        lock=job_source,
        queueing_lock=job_source,
        schedule_in={"seconds": quiet_s},
        connection=connection,
    )
    try:
        async with connection.transaction():  # a savepoint: a refused insert spares the rest
            await deferrer.defer_async(bucket=bucket, job_source=job_source)
    except queue_exceptions.AlreadyEnqueued:
        return False  # queued by a concurrent transaction since our update
    return True


# The kwarg of an `analyse_job` job in which the stalled-job recovery notes the attempts whose
# worker died (the task takes it; `analyse_job` gives up at POISON_LIMIT of them).
LOST_ATTEMPTS_ARG = "lost_attempts"


async def note_job_worker_lost(connection: Any, job_id: int) -> bool:
    """The running attempt of the job lost its worker: noted in the job's `lost_attempts`
    argument, once per attempt however many workers find it (before it is queued again);
    True when noted now."""
    cursor = await connection.execute(
        """UPDATE procrastinate_jobs
           SET args = jsonb_set(
               args, ARRAY[%(arg)s::text],
               COALESCE(args -> %(arg)s::text, '[]'::jsonb) || jsonb_build_array(attempts))
           WHERE id = %(id)s AND status = 'doing'
             AND NOT COALESCE(args -> %(arg)s::text, '[]'::jsonb) @> jsonb_build_array(attempts)""",
        {"arg": LOST_ATTEMPTS_ARG, "id": job_id},
    )
    return cursor.rowcount > 0


async def retry_stalled_jobs(
    app: procrastinate.App,
    *,
    stalled_after_s: float,
    before_retry: Callable[[Job], Awaitable[None]] | None = None,
) -> int:
    """Put back jobs whose worker stopped sending heartbeats (killed, frozen, lost its network).

    Safe to run from every worker at once: a job another worker already put back is skipped.
    `before_retry(job)` runs first for every stalled job (it must be idempotent: several
    workers may see the same job).
    """
    retried = 0
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after_s):
        if before_retry is not None:
            await before_retry(job)
        try:
            await app.job_manager.retry_job(job)
        except queue_exceptions.ConnectorException as exc:
            log.info("stalled job %s was already taken care of: %s", job.id, exc)
            continue
        retried += 1
        log.warning(
            "job %s (%s) of a dead worker is queued again",
            job.id,
            job.task_name,
            extra={"job_id": job.id, "lock": job.lock},
        )
    return retried
