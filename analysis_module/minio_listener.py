"""MinIO's webhook target: records bucket notifications and queues their analyses.

    uvicorn analysis_module.minio_listener:app --host 0.0.0.0 --port 8001

`POST /minio-event` (alias `POST /minio`) takes MinIO's notification body. The token of
MINIO_WEBHOOK_AUTH_TOKEN is required as MinIO sends it (`Authorization: Bearer <token>`); a
missing or wrong one gets 401 and nothing is recorded. Every authentic request is written to
`ingest_events`, and any analysis queued, in one PostgreSQL transaction before the answer:
2xx means recorded (also for events we ignore or reject as malformed, so MinIO's persistent
queue never blocks on them); 503 means the database could not record it, and MinIO retries.
The body is read in chunks up to MAX_BODY_BYTES: a larger one is recorded as rejected and
answered 413 without reading the rest.
`POST /ceph-event` takes Ceph RADOS Gateway's notifications (its own shape, see
`ingest/ceph_events.py`), authenticated by the same token as the topic's `OpaqueData` or as
the password of Basic auth; the recording is the same.
`GET /healthz` (process alive), `GET /readyz` (database reachable), `GET /metrics`.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from analysis_module.app.ingest_setup import ingest_config
from analysis_module.connectors.ingest_pool import open_ingest_store
from analysis_module.connectors.ingest_store import IngestStore
from analysis_module.ingest import ceph_events, notifications
from analysis_module.ingest.config import IngestConfig
from analysis_module.ingest.events import (
    Notification,
    RejectedRecord,
    parse_notification,
    storable_text,
)
from analysis_module.ingest.log_config import configure_logging
from analysis_module.pipeline_core.errors import TransientError
from analysis_module.settings import PLACEHOLDER_SECRETS, AnalysisSettings
from analysis_module.startup import (
    ConfigurationError,
    prepare_database,
    require_postgres,
    settings_or_exit,
)

log = logging.getLogger("analysis_module.minio_listener")

MAX_BODY_BYTES = 1024 * 1024  # MinIO sends one record (~2 KiB) per request
RETRY_AFTER_S = "3"  # MinIO's own retry interval
CLOSE = {"Connection": "close"}  # the unread rest of a body must not be taken for a request


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ingest_webhook_requests",
            "Webhook requests by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.records = Counter(
            "ingest_webhook_records",
            "RecordedEvent notification records by disposition",
            ["disposition"],
            registry=self.registry,
        )
        self.record_seconds = Histogram(
            "ingest_webhook_record_seconds",
            "Time to record a request durably",
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )


@dataclass
class Listener:
    settings: AnalysisSettings
    store: IngestStore
    config: IngestConfig
    expected_authorization: str | None  # None: no token configured (development only)
    metrics: Metrics


def expected_authorization(token: str) -> str | None:
    """The header MinIO sends for its `auth_token`: one word as `Bearer T`, two verbatim."""
    token = token.strip()
    if not token:
        return None
    return token if " " in token else f"Bearer {token}"


def check_webhook_token(settings: AnalysisSettings) -> None:
    """Without a real token the listener starts only where APP_ENV=development is set.

    The analysis defaults to development so the batch CLI needs no configuration; a webhook
    facing the network must not inherit that default by omission.
    """
    token = settings.minio_webhook_auth_token.get_secret_value().strip()
    explicit_development = (
        settings.app_env == "development" and "app_env" in settings.model_fields_set
    )
    if not explicit_development and token.lower() in PLACEHOLDER_SECRETS:
        raise RuntimeError(
            "refusing to start: MINIO_WEBHOOK_AUTH_TOKEN is empty or a placeholder "
            f"(APP_ENV={settings.app_env})"
        )


async def get_listener(request: Request) -> Listener:
    return request.app.state.listener


ListenerDep = Annotated[Listener, Depends(get_listener)]


async def require_token(request: Request, listener: ListenerDep) -> None:
    expected = listener.expected_authorization
    if expected is None:
        return
    provided = request.headers.get("authorization", "")
    if not hmac.compare_digest(provided.encode(), expected.encode()):
        listener.metrics.requests.labels("unauthorized").inc()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong webhook token",
            headers={"WWW-Authenticate": "Bearer"},
        )


Authenticated = Depends(require_token)


class BodyTooLarge(Exception):
    def __init__(self, head: bytes):
        super().__init__(f"body is larger than {MAX_BODY_BYTES} bytes")
        self.head = head


async def read_capped_body(request: Request) -> bytes:
    """The body, read in chunks; stops as soon as it passes MAX_BODY_BYTES (chunked or not)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge(b"")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge(b"".join(chunks)[:2000])
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_notification(request: Request) -> tuple[Notification, bool]:
    """The parsed notification, and whether the body was cut at the cap (then it is one
    rejected record holding a preview of what was read)."""
    try:
        return parse_notification(await read_capped_body(request)), False
    except BodyTooLarge as exc:
        preview = storable_text(exc.head.decode("utf-8", errors="replace"))
        return Notification([RejectedRecord(str(exc))], {"unparsed": preview}), True


async def receive_event(request: Request, listener: ListenerDep) -> JSONResponse:
    notification, too_large = await _read_notification(request)
    return await _record(listener, notification, too_large=too_large)


async def receive_ceph_event(request: Request, listener: ListenerDep) -> JSONResponse:
    """Ceph's gateway: the token is the topic's OpaqueData (in the body) or Basic auth."""
    notification, too_large = await _read_notification(request)
    token = listener.settings.minio_webhook_auth_token.get_secret_value().strip()
    authorization = request.headers.get("authorization", "")
    if listener.expected_authorization is not None and not ceph_events.is_authentic(
        authorization, notification.body, token
    ):
        if too_large:  # the token may sit in the unread rest: nothing can be checked or kept
            return JSONResponse(
                {"detail": f"body is larger than {MAX_BODY_BYTES} bytes"},
                status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                headers=CLOSE,
            )
        listener.metrics.requests.labels("unauthorized").inc()
        return JSONResponse(
            {"detail": "missing or wrong webhook token (topic OpaqueData or Basic auth)"},
            status_code=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": 'Basic realm="ceph-event"'},
        )
    ceph_events.redact_opaque_data(notification.body)
    return await _record(listener, notification, too_large=too_large)


async def _record(
    listener: Listener, notification: Notification, *, too_large: bool = False
) -> JSONResponse:
    started = time.perf_counter()
    try:
        recorded = await notifications.record_notification(
            listener.store, notification, listener.config
        )
    except TransientError as exc:
        listener.metrics.requests.labels("unavailable").inc()
        log.warning("event not recorded, MinIO will retry: %s", exc)
        return JSONResponse(
            {"detail": "could not record the event; retry"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": RETRY_AFTER_S},
        )
    listener.metrics.record_seconds.observe(time.perf_counter() - started)
    listener.metrics.requests.labels("recorded").inc()
    for item in recorded:
        listener.metrics.records.labels(item.disposition.value).inc()
    content = {
        "recorded": [
            {"disposition": item.disposition.value, "key": item.key, "reason": item.reason}
            for item in recorded
        ]
    }
    if too_large:  # recorded as rejected; the rest of the body is never read
        return JSONResponse(
            content, status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, headers=CLOSE
        )
    return JSONResponse(content)


async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def readyz(listener: ListenerDep) -> JSONResponse:
    try:
        await listener.store.ping()
    except TransientError as exc:
        return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
    return JSONResponse({"status": "ready"})


async def metrics(listener: ListenerDep) -> Response:
    return Response(generate_latest(listener.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def create_app(settings: AnalysisSettings | None = None) -> FastAPI:
    """The ASGI app; settings, the database and the pool are set up when it starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = settings or AnalysisSettings()
        configure_logging(current)
        check_webhook_token(current)
        if not current.use_postgres:
            raise RuntimeError("the listener records events in PostgreSQL: set POSTGRES_HOST")
        expected = expected_authorization(current.minio_webhook_auth_token.get_secret_value())
        if expected is None:
            log.warning("MINIO_WEBHOOK_AUTH_TOKEN is not set: accepting unauthenticated events")
        await prepare_database(current)
        async with open_ingest_store(
            current,
            max_size=current.listener_db_pool_size,
            timeout_s=current.listener_db_timeout_s,
        ) as store:
            app.state.listener = Listener(
                settings=current,
                store=store,
                config=ingest_config(current),
                expected_authorization=expected,
                metrics=Metrics(),
            )
            log.info("listening for events of bucket %s", current.minio_bucket)
            yield

    app = FastAPI(
        title="Benchmarking suite: MinIO event listener",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    for path in ("/minio-event", "/minio"):
        app.add_api_route(
            path,
            receive_event,
            methods=["POST"],
            dependencies=[Authenticated],
            summary="Record a MinIO bucket notification and queue its analysis",
        )
        # older MinIO releases probe the target with HEAD when they start
        app.add_api_route(path, healthz, methods=["HEAD"], include_in_schema=False)
    app.add_api_route(
        "/ceph-event",
        receive_ceph_event,
        methods=["POST"],
        summary="Record a Ceph RADOS Gateway bucket notification and queue its analysis",
    )
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route("/readyz", readyz, methods=["GET"])
    app.add_api_route("/metrics", metrics, methods=["GET"])
    return app


def _listener_requirements(settings: AnalysisSettings) -> None:
    require_postgres("the listener (it records events)")(settings)
    try:
        check_webhook_token(settings)
    except RuntimeError as exc:
        raise ConfigurationError(str(exc).removeprefix("refusing to start: ")) from None


def __getattr__(name: str):
    # `uvicorn analysis_module.minio_listener:app` builds the app on first access, after
    # checking the settings: a configuration error is one line and exit status 2.
    if name == "app":
        settings = settings_or_exit(require=_listener_requirements)
        globals()["app"] = application = create_app(settings)
        return application
    raise AttributeError(name)
