"""`python -m analysis_module.worker`: runs the ingestion jobs (analyses, removals, rescans).

Run any number of replicas. Each process waits for PostgreSQL, applies pending migrations,
builds its S3 client and analysis runners once, then runs a procrastinate worker on the ingest
queue. Alongside it, a recovery loop puts jobs of dead workers (no heartbeat for
WORKER_STALLED_AFTER_S) back in the queue. When the database goes away the worker stops and is
started again with backoff; SIGTERM/SIGINT stop it gracefully (running jobs finish within
WORKER_SHUTDOWN_GRACE_S).

On WORKER_METRICS_HOST:WORKER_METRICS_PORT (0 disables it) a thread serves `GET /metrics`
(Prometheus: job outcomes, analysis and download times, queue depth, objects by status),
`GET /healthz` (the event loop answered within 3 heartbeats) and `GET /readyz` (the last
database check succeeded, within 3 check intervals, and analysis runners can be built).

At start-up the worker removes the download folders that dead workers of its host left in
INGEST_DOWNLOAD_DIR. Jobs of dead workers count as kills of their object's content, and the
analysis of one object may take INGEST_JOB_TIMEOUT_S: twice killed or twice over the budget,
the object is failed as a poison pill (see `ingest.service`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from procrastinate import JobContext
from procrastinate.exceptions import JobAborted
from procrastinate.job_context import AbortReason
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from analysis_module.connectors import queue
from analysis_module.connectors.errors import TransientError
from analysis_module.connectors.ingest_store import (
    IngestStore,
    open_ingest_store,
    prepare_database,
)
from analysis_module.connectors.s3 import ObjectStore
from analysis_module.ingest.downloads import clean_download_dir
from analysis_module.ingest.log_config import configure_logging
from analysis_module.ingest.rescan import config_from
from analysis_module.ingest.rules import Status
from analysis_module.ingest.service import JobResult, Outcome, WorkerDeps
from analysis_module.ingest.tasks import CONTEXT_KEY, ingest_blueprint
from analysis_module.runner_pool import RunnerPool, describe
from analysis_module.settings import AnalysisSettings
from analysis_module.startup import OneLineArgumentParser, require_postgres, settings_or_exit

log = logging.getLogger("analysis_module.worker")

MAX_RESTART_DELAY_S = 30.0
LOOP_HEARTBEAT_S = 5.0  # /healthz fails after 3 missed heartbeats of the event loop
DB_CHECK_S = 15.0  # queue depth and object counts; /readyz fails after 3 missed checks
QUEUE_STATUSES = ("todo", "doing")
# Outcomes of a job: the service's, and the two of failures (decided by the retry strategy).
RETRIED = "retried"
FAILED = "failed"
OBJECT_TASKS = (queue.ANALYSE_TASK, queue.REMOVE_TASK)
DEPTH_QUERY = """
    SELECT 'queue' AS kind, status::text AS status, count(*) AS n FROM procrastinate_jobs
    WHERE queue_name = %(queue)s AND status IN ('todo', 'doing') GROUP BY status
    UNION ALL
    SELECT 'objects', status::text, count(*) FROM ingest_objects GROUP BY status
"""


class WorkerMetrics:
    """The worker's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Counter(
            "ingest_worker_jobs",
            "Finished jobs by task and outcome",
            ["task", "outcome"],
            registry=self.registry,
        )
        self.analysis_seconds = Histogram(
            "ingest_worker_analysis_seconds",
            "Whole analyse_object jobs that ended ok or failed, download included",
            registry=self.registry,
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
        )
        self.download_seconds = Histogram(
            "ingest_worker_download_seconds",
            "Time to download an object for its analysis",
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        )
        self.download_bytes = Histogram(
            "ingest_worker_download_bytes",
            "Size of the downloaded objects",
            registry=self.registry,
            buckets=tuple(float(4**n * 1024) for n in range(2, 13)),  # 16 KiB to 4 GiB
        )
        self.queue_jobs = Gauge(
            "ingest_queue_jobs",
            "Jobs of the ingest queue waiting (todo) or running (doing)",
            ["status"],
            registry=self.registry,
        )
        self.objects = Gauge(
            "ingest_objects",
            "Rows of ingest_objects by status",
            ["status"],
            registry=self.registry,
        )
        for task in OBJECT_TASKS:
            for outcome in (*Outcome, RETRIED, FAILED):
                self.jobs.labels(task, outcome)
        for status in QUEUE_STATUSES:
            self.queue_jobs.labels(status)
        for status in Status:
            self.objects.labels(status.value)

    async def observe_job(self, call_next, context: JobContext, worker) -> object:
        """procrastinate worker middleware: count every job's outcome and time analyses."""
        started = time.perf_counter()
        try:
            result = await call_next()
        except BaseException as exc:
            self._finished(context, RETRIED if _will_retry(context, exc) else FAILED, started)
            raise
        outcome = result.outcome if isinstance(result, JobResult) else Outcome.OK
        self._finished(context, outcome.value, started)
        return result

    def _finished(self, context: JobContext, outcome: str, started: float) -> None:
        task = context.job.task_name
        self.jobs.labels(task, outcome).inc()
        if task == queue.ANALYSE_TASK and outcome in (Outcome.OK, FAILED):
            self.analysis_seconds.observe(time.perf_counter() - started)

    async def refresh(self, store: IngestStore, queue_name: str) -> None:
        """Queue depth and object counts, in one query."""
        async with store.transaction() as tx:
            cursor = await tx.conn.execute(DEPTH_QUERY, {"queue": queue_name})
            rows = await cursor.fetchall()
        counts = {(kind, status): n for kind, status, n in rows}
        for status in QUEUE_STATUSES:
            self.queue_jobs.labels(status).set(counts.get(("queue", status), 0))
        statuses = {s.value for s in Status} | {s for k, s in counts if k == "objects"}
        for status in statuses:
            self.objects.labels(status).set(counts.get(("objects", status), 0))


def _will_retry(context: JobContext, exc: BaseException) -> bool:
    """Does procrastinate queue the job again after this exception (its task's strategy)?"""
    task = context.app.tasks.get(context.job.task_name)
    if task is None:
        return False
    if isinstance(exc, JobAborted) and context.abort_reason() is not AbortReason.SHUTDOWN:
        return False  # a user's abort request
    return task.get_retry_exception(exception=exc, job=context.job) is not None


class MeasuredObjectStore(ObjectStore):
    """The bucket, with each download timed and sized for the metrics."""

    def __init__(self, settings: AnalysisSettings, metrics: WorkerMetrics):
        super().__init__(settings)
        self.metrics = metrics

    def download(self, key: str, dest_path: Path, *, etag: str | None = None) -> str:
        started = time.perf_counter()
        written = super().download(key, dest_path, etag=etag)
        self.metrics.download_seconds.observe(time.perf_counter() - started)
        self.metrics.download_bytes.observe(Path(dest_path).stat().st_size)
        return written


class Health:
    """What /healthz and /readyz answer: the event loop's heartbeat, the last database check.

    Written on the event loop, read by the endpoint's threads (each a single assignment).
    """

    def __init__(
        self,
        *,
        heartbeat_s: float = LOOP_HEARTBEAT_S,
        db_check_s: float = DB_CHECK_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.heartbeat_s = heartbeat_s
        self.db_check_s = db_check_s
        self.clock = clock
        self.beat_at = clock()
        self.db_check: tuple[float, str | None] | None = None  # (when, error or None)
        # Why no analysis could run now (the runner pool cannot build a runner), or None.
        self.runner_problem: Callable[[], str | None] = lambda: None

    def beat(self) -> None:
        self.beat_at = self.clock()

    async def keep_beating(self) -> None:
        while True:
            self.beat()
            await asyncio.sleep(self.heartbeat_s)

    def database_checked(self, error: str | None = None) -> None:
        self.db_check = (self.clock(), error)

    def alive(self) -> str | None:
        """None when the event loop beat lately, else what is wrong."""
        silent = self.clock() - self.beat_at
        if silent > 3 * self.heartbeat_s:
            return f"the event loop has been silent for {silent:.0f} s"
        return None

    def ready(self) -> str | None:
        """None when the last database check succeeded lately and analyses can run."""
        if self.db_check is None:
            return "no database check yet"
        checked_at, error = self.db_check
        if error is not None:
            return error
        age = self.clock() - checked_at
        if age > 3 * self.db_check_s:
            return f"the last database check was {age:.0f} s ago"
        return self.runner_problem()


def endpoint_app(metrics: WorkerMetrics, health: Health) -> Callable:
    """The WSGI app of the worker's endpoint: /metrics, /healthz, /readyz."""
    metrics_app = make_wsgi_app(metrics.registry)
    probes = {"/healthz": (health.alive, "ok"), "/readyz": (health.ready, "ready")}

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics_app(environ, start_response)
        if path not in probes:
            status, body = "404 Not Found", {"detail": "not found"}
        else:
            check, good = probes[path]
            problem = check()
            if problem is None:
                status, body = "200 OK", {"status": good}
            else:
                status, body = (
                    "503 Service Unavailable",
                    {"status": "unavailable", "detail": problem},
                )
        data = json.dumps(body).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        """Scrapes and probes come every few seconds: not logged."""


def serve_http(host: str, port: int, app: Callable) -> WSGIServer:
    """`app` on host:port, one thread per request, in a daemon thread."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]

    class Server(ThreadingMixIn, WSGIServer):
        address_family = family
        daemon_threads = True

    server = make_server(host, port, app, server_class=Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-endpoint", daemon=True).start()
    return server


def start_endpoint(
    settings: AnalysisSettings, metrics: WorkerMetrics, health: Health
) -> WSGIServer | None:
    """The endpoint, unless WORKER_METRICS_PORT is 0 (or, in development, the port is taken)."""
    host, port = settings.worker_metrics_host, settings.worker_metrics_port
    if not port:
        log.info("no metrics endpoint: WORKER_METRICS_PORT is 0")
        return None
    where = f"{host}:{port}"
    try:
        server = serve_http(host, port, endpoint_app(metrics, health))
    except OSError as exc:
        if settings.app_env == "production":
            raise SystemExit(f"cannot serve /metrics on {where}: {exc}") from exc
        # several workers on one development machine: the first one serves the port
        log.warning("cannot serve /metrics on %s (%s); running without the endpoint", where, exc)
        return None
    log.info("serving /metrics, /healthz and /readyz on %s", where)
    return server


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

    An analysis whose worker died counts as a kill of its object's current content (once per
    attempt, however many workers find it); the second kill makes it a poison pill.

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
    if job.task_name != queue.ANALYSE_TASK or not job.lock:
        return
    async with store.transaction() as tx:
        if await tx.note_worker_lost(job.lock):
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
        "objects": MeasuredObjectStore(settings, metrics),
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = OneLineArgumentParser(
        prog="python -m analysis_module.worker",
        description="Run ingestion jobs (analyses of uploaded profiles, removals, rescans).",
    )
    parser.add_argument(
        "--concurrency", type=int, help="jobs run at once (default WORKER_CONCURRENCY, 1)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = settings_or_exit(
        {"worker_concurrency": args.concurrency},
        {"worker_concurrency": "--concurrency"},
        require=require_postgres("the worker (its queue)"),
    )
    configure_logging(settings)
    metrics = WorkerMetrics()
    health = Health()
    server = start_endpoint(settings, metrics, health)
    try:
        asyncio.run(run(settings, metrics, health))
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    main()
