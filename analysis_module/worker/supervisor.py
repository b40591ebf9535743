"""The worker's life: prepare the database, build runners once, run procrastinate, restart it.

When the database goes away the procrastinate worker stops and is started again with backoff;
SIGTERM/SIGINT stop it gracefully. A recovery loop puts jobs of dead workers back in the queue.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress

from analysis_module.app.ingest_setup import ingest_config
from analysis_module.connectors import queue
from analysis_module.connectors.ingest_pool import open_ingest_store
from analysis_module.connectors.ingest_store import IngestStore
from analysis_module.connectors.s3 import ObjectStore
from analysis_module.ingest.downloads import clean_download_dir
from analysis_module.ingest.quota import OwnerListings
from analysis_module.ingest.service import WorkerDeps
from analysis_module.pipeline_core.errors import TransientError
from analysis_module.settings import AnalysisSettings
from analysis_module.startup import prepare_database
from analysis_module.worker.checked_copies import CheckedCopies
from analysis_module.worker.health import DB_CHECK_S, Health
from analysis_module.worker.metrics import MeasuredObjectStore, WorkerMetrics
from analysis_module.worker.runner_pool import RunnerPool, describe
from analysis_module.worker.tasks import CONTEXT_KEY, ingest_blueprint

log = logging.getLogger("analysis_module.worker")

MAX_RESTART_DELAY_S = 30.0


async def check_database(
    store: IngestStore, settings: AnalysisSettings, metrics: WorkerMetrics, health: Health
) -> None:
    """Every DB_CHECK_S: the queue depth and object counts; whether it worked is /readyz."""
    while True:
        try:
            await asyncio.wait_for(metrics.refresh(store, settings.ingest_queue), DB_CHECK_S)
        except TimeoutError:
            health.database_checked(f"the database did not answer within {DB_CHECK_S:.0f} s")
        except Exception as exc:  # noqa: BLE001 - the database may be restarting: next round
            if health.ready() is None:
                log.warning("database check failed: %s", describe(exc))
            health.database_checked(describe(exc))
        else:
            health.database_checked()
        await asyncio.sleep(DB_CHECK_S)


async def recover_stalled_jobs(app, settings: AnalysisSettings, store: IngestStore) -> None:
    """Every WORKER_STALLED_CHECK_S: queue again the jobs of workers without a heartbeat.

    An analysis whose worker died counts as a kill of its object's current content, or of the
    job's analysis (once per attempt, however many workers find it); the second kill makes it
    a poison pill.

    A heartbeat is only meaningful once every worker could send one: after this process's own
    database access failed or hung (an outage hits all workers' heartbeats alike), it waits
    WORKER_STALLED_AFTER_S of good connection before judging anyone, so the jobs of live
    workers are not taken from them.
    """
    loop = asyncio.get_running_loop()
    healthy_since = loop.time()
    while True:
        started = loop.time()
        try:
            await app.check_connection_async()
            if loop.time() - started > settings.worker_stalled_check_s:
                healthy_since = loop.time()  # the query hung: the database was away
            elif loop.time() - healthy_since >= settings.worker_stalled_after_s:
                await queue.retry_stalled_jobs(
                    app,
                    stalled_after_s=settings.worker_stalled_after_s,
                    before_retry=lambda job: _count_kill(store, job),
                )
        except Exception as exc:  # noqa: BLE001 - the database may be restarting: next round
            healthy_since = loop.time()
            log.warning("could not look for stalled jobs: %s", describe(exc))
        await asyncio.sleep(settings.worker_stalled_check_s)


async def _count_kill(store: IngestStore, job) -> None:
    """A kill of the object's content (`analyse_object`), or of the job's analysis
    (`analyse_job`, noted on the queue job itself: a job has no row of its own)."""
    if not job.lock or job.task_name not in (queue.ANALYSE_TASK, queue.JOB_TASK):
        return
    async with store.transaction() as tx:
        if job.task_name == queue.JOB_TASK:
            lost = await tx.note_job_worker_lost(job.id)
        else:
            lost = await tx.note_worker_lost(job.lock)
    if lost:
        log.warning("the analysis of %s lost its worker", job.lock)


async def serve_once(
    settings: AnalysisSettings,
    deps_parts: dict,
    stop: asyncio.Event,
    name: str,
    metrics: WorkerMetrics,
    health: Health,
) -> None:
    """One worker run on a fresh app and pool; returns when stopped or when it fails."""
    app = queue.build_queue_app(settings, blueprint=ingest_blueprint(settings))
    async with open_ingest_store(
        settings, app=app, max_size=settings.worker_concurrency + 4
    ) as store:
        deps = WorkerDeps(store=store, **deps_parts)
        worker = asyncio.create_task(
            app.run_worker_async(
                name=name,
                queues=[settings.ingest_queue],
                concurrency=settings.worker_concurrency,
                wait=True,
                install_signal_handlers=False,
                additional_context={CONTEXT_KEY: deps},
                fetch_job_polling_interval=settings.worker_poll_interval_s,
                abort_job_polling_interval=settings.worker_poll_interval_s,
                update_heartbeat_interval=settings.worker_heartbeat_s,
                stalled_worker_timeout=settings.worker_stalled_after_s,
                shutdown_graceful_timeout=settings.worker_shutdown_grace_s,
                delete_jobs="never",
                worker_middleware=[metrics.observe_job],
            ),
            name="procrastinate worker",
        )
        recovery = asyncio.create_task(recover_stalled_jobs(app, settings, store), name="recovery")
        checks = asyncio.create_task(
            check_database(store, settings, metrics, health), name="database check"
        )
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            recovery.cancel()
            checks.cancel()
            stopping.cancel()
            if not worker.done():
                worker.cancel()  # procrastinate stops fetching and waits for running jobs
            with suppress(asyncio.CancelledError):
                await worker
        if not stop.is_set():
            log.warning("the worker stopped on its own (database connection lost?)")


class CountingExecutor(ThreadPoolExecutor):
    """The loop's thread pool (S3 transfers, analyses), knowing how many calls are running."""

    def __init__(self) -> None:
        super().__init__(thread_name_prefix="ingest")
        self._lock = threading.Lock()
        self.running = 0

    def submit(self, fn, /, *args, **kwargs):
        def counted():
            with self._lock:
                self.running += 1
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.running -= 1

        return super().submit(counted)


async def run(settings: AnalysisSettings, metrics: WorkerMetrics, health: Health) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    executor = CountingExecutor()
    loop.set_default_executor(executor)
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    heartbeat = asyncio.create_task(health.keep_beating(), name="loop heartbeat")
    try:
        await _run(settings, metrics, health, stop, executor)
    finally:
        heartbeat.cancel()


async def _run(
    settings: AnalysisSettings,
    metrics: WorkerMetrics,
    health: Health,
    stop: asyncio.Event,
    executor: CountingExecutor,
) -> None:
    preparing = asyncio.create_task(prepare_database(settings))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({preparing, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not preparing.done():
        preparing.cancel()
        return
    preparing.result()
    await asyncio.to_thread(clean_download_dir, settings.ingest_download_dir)
    runners = RunnerPool(settings, settings.worker_concurrency)
    health.runner_problem = lambda: runners.build_problem
    deps_parts = {
        "objects": CheckedCopies(
            MeasuredObjectStore(ObjectStore(settings.object_store_config()), metrics)
        ),
        "analyser": runners,
        "config": ingest_config(settings),
        "listings": OwnerListings(),
    }
    try:
        await runners.warm_up()
    except TransientError as exc:
        log.warning("analysis runner not ready yet: %s", exc)
    name = f"{socket.gethostname()}-{os.getpid()}"
    delay = 1.0
    try:
        while not stop.is_set():
            try:
                await serve_once(settings, deps_parts, stop, name, metrics, health)
                delay = 1.0
            except Exception as exc:  # noqa: BLE001 - any failure: start a fresh worker later
                log.warning("worker failed: %s; starting again in %.0f s", describe(exc), delay)
                health.database_checked(f"worker failed: {describe(exc)}")
            if stop.is_set():
                break
            if health.ready() is None:
                health.database_checked("the worker stopped; starting it again")
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, MAX_RESTART_DELAY_S)
    finally:
        runners.close()
    if executor.running:
        # Jobs cut off by the shutdown grace period are back in the queue; their threads may
        # hang on a dead connection, and waiting for them would hold the process forever.
        log.warning("worker stopped; leaving %d blocked calls behind", executor.running)
        logging.shutdown()
        os._exit(0)
    log.info("worker stopped")
