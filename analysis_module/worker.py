"""`python -m analysis_module.worker`: runs the ingestion jobs (analyses, removals, rescans).

Run any number of replicas. Each process waits for PostgreSQL, applies pending migrations,
builds its S3 client and analysis runners once, then runs a procrastinate worker on the ingest
queue. Alongside it, a recovery loop puts jobs of dead workers (no heartbeat for
WORKER_STALLED_AFTER_S) back in the queue. When the database goes away the worker stops and is
started again with backoff; SIGTERM/SIGINT stop it gracefully (running jobs finish within
WORKER_SHUTDOWN_GRACE_S).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

from analysis_module.connectors import queue
from analysis_module.connectors.errors import TransientError
from analysis_module.connectors.ingest_store import open_ingest_store, prepare_database
from analysis_module.connectors.s3 import ObjectStore
from analysis_module.ingest.log_config import configure_logging
from analysis_module.ingest.rescan import config_from
from analysis_module.ingest.service import WorkerDeps
from analysis_module.ingest.tasks import CONTEXT_KEY, ingest_blueprint
from analysis_module.runner import Runner, build_runner
from analysis_module.settings import AnalysisSettings

log = logging.getLogger("analysis_module.worker")

MAX_RESTART_DELAY_S = 30.0


class RunnerPool:
    """Analysis runners for the jobs running at once, built on first use and then reused.

    A runner is used by one job at a time. One that raised `TransientError` (its database
    connection may be dead) or whose job was cancelled mid-call is not reused.
    """

    def __init__(self, settings: AnalysisSettings, size: int):
        self.settings = settings
        self._idle: list[Runner] = []
        self._slots = asyncio.Semaphore(size)

    async def _call(self, method: str, *args, **kwargs):
        async with self._slots:
            if self._idle:
                runner = self._idle.pop()
            else:
                runner = await asyncio.to_thread(build_runner, self.settings)
            try:
                result = await asyncio.to_thread(getattr(runner, method), *args, **kwargs)
            except TransientError:
                await asyncio.to_thread(_close_quietly, runner)
                raise
            except asyncio.CancelledError:
                raise  # still busy in its thread
            except BaseException:
                self._idle.append(runner)
                raise
            self._idle.append(runner)
            return result

    async def warm_up(self) -> None:
        """Build the first runner now, so the first job does not wait for it."""
        async with self._slots:
            if not self._idle:
                self._idle.append(await asyncio.to_thread(build_runner, self.settings))

    async def analyse(self, path: Path, *, source: str, owner: str | None, etag: str | None):
        return await self._call("analyse_file", path, source=source, owner=owner, etag=etag)

    async def mark_removed(self, source: str) -> None:
        await self._call("mark_removed", source)

    def close(self) -> None:
        while self._idle:
            _close_quietly(self._idle.pop())


def describe(exc: BaseException) -> str:
    """One line with the causes (procrastinate wraps driver errors in "Database error.")."""
    parts = []
    while exc is not None and len(parts) < 4:
        parts.append(" ".join(str(exc).split()) or type(exc).__name__)
        exc = exc.__cause__
    return ": ".join(parts)


def _close_quietly(runner: Runner) -> None:
    try:
        runner.close()
    except Exception:
        log.exception("closing an analysis runner failed")


async def recover_stalled_jobs(app, settings: AnalysisSettings) -> None:
    """Every WORKER_STALLED_CHECK_S: queue again the jobs of workers without a heartbeat.

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
                await queue.retry_stalled_jobs(app, stalled_after_s=settings.worker_stalled_after_s)
        except Exception as exc:  # noqa: BLE001 - the database may be restarting: next round
            healthy_since = loop.time()
            log.warning("could not look for stalled jobs: %s", describe(exc))
        await asyncio.sleep(settings.worker_stalled_check_s)


async def serve_once(
    settings: AnalysisSettings, deps_parts: dict, stop: asyncio.Event, name: str
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
            ),
            name="procrastinate worker",
        )
        recovery = asyncio.create_task(recover_stalled_jobs(app, settings), name="recovery")
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            recovery.cancel()
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


async def run(settings: AnalysisSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    executor = CountingExecutor()
    loop.set_default_executor(executor)
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    preparing = asyncio.create_task(prepare_database(settings))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({preparing, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not preparing.done():
        preparing.cancel()
        return
    preparing.result()
    runners = RunnerPool(settings, settings.worker_concurrency)
    deps_parts = {
        "objects": ObjectStore(settings),
        "analyser": runners,
        "config": config_from(settings),
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
                await serve_once(settings, deps_parts, stop, name)
                delay = 1.0
            except Exception as exc:  # noqa: BLE001 - any failure: start a fresh worker later
                log.warning("worker failed: %s; starting again in %.0f s", describe(exc), delay)
            if stop.is_set():
                break
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m analysis_module.worker",
        description="Run ingestion jobs (analyses of uploaded profiles, removals, rescans).",
    )
    parser.add_argument(
        "--concurrency", type=int, help="jobs run at once (default WORKER_CONCURRENCY, 1)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = AnalysisSettings()
    if args.concurrency:
        settings = settings.model_copy(update={"worker_concurrency": args.concurrency})
    configure_logging(settings)
    if not settings.use_postgres:
        raise SystemExit("the worker needs PostgreSQL for its queue: set POSTGRES_HOST")
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
