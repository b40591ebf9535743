"""What the worker's endpoint answers: /healthz, /readyz and /metrics, on a thread of its own."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from analysis_module.settings import AnalysisSettings
from analysis_module.worker.metrics import WorkerMetrics

log = logging.getLogger("analysis_module.worker")

LOOP_HEARTBEAT_S = 5.0  # /healthz fails after 3 missed heartbeats of the event loop
DB_CHECK_S = 15.0  # queue depth and object counts; /readyz fails after 3 missed checks


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
