"""The API application. `uvicorn api_backend.main:app` builds it from the environment.

`create_app(settings)` builds an app cheaply (no I/O); start-up (waiting for the database,
migrations, the first Argon2 hash, the revocation poller) happens in its lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from .api.middleware import GuardAndMeasure
from .auth.endpoints import router as auth_router
from .benchmarks.endpoints import router as benchmarks_router
from .core.config import Settings, load_settings
from .core.errors import install_error_handler
from .core.logging import configure_logging
from .health.endpoints import router as health_router
from .jobs.endpoints import reports_router
from .jobs.endpoints import router as jobs_router
from .runtime import build_runtime
from .storage.endpoints import router as storage_router

log = logging.getLogger(__name__)

DESCRIPTION = """
Upload Slurm HDF5 profiles to your own namespace of the object store with presigned URLs,
then read back what the analysis found: energy, time to solution, power, cost and CO2, per
job, step and node, and the time series.

Authenticate with `POST /auth/password` (OAuth2 password form or JSON) and send
`Authorization: Bearer <access_token>`. Access tokens live at most 15 minutes; refresh them
with `POST /auth/refresh` (single-use, rotating refresh tokens).
"""


TAGS = [
    {"name": "auth", "description": "Accounts, logins and tokens."},
    {"name": "storage", "description": "Presigned URLs and objects in your namespace."},
    {"name": "jobs", "description": "Results of the analysis of your uploads."},
    {"name": "benchmarks", "description": "Runs of one benchmark compared, best and median."},
    {"name": "health", "description": "Liveness, readiness, metrics."},
]


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    runtime = await run_in_threadpool(build_runtime, settings)
    app.state.runtime = runtime
    # Everything built so far (boto3's service models, SQLAlchemy, pydantic schemas) lives
    # as long as the process: keep it out of the cyclic collector's full passes, which
    # otherwise rescan it over and over while requests allocate.
    gc.collect()
    gc.freeze()
    poller = asyncio.create_task(runtime.revoked.run(), name="revocation-poller")
    log.info(
        "api started",
        extra={"app_env": settings.app_env, "database": runtime.engine.dialect.name},
    )
    try:
        yield
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        runtime.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    app = FastAPI(
        title="Benchmarking Suite API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        openapi_tags=TAGS,
    )
    app.state.settings = settings
    install_error_handler(app)
    # Routes are matched in order: the hottest first. The docs keep the order of TAGS.
    routers = (storage_router, jobs_router, benchmarks_router, auth_router, health_router)
    for router in (*routers, reports_router):
        app.include_router(router)
    app.add_middleware(GuardAndMeasure, legacy_client_compat=settings.legacy_client_compat)
    return app


def __getattr__(name: str):
    # `app` is built on first access, so importing this module (tests, tools) reads no
    # environment and opens nothing.
    if name == "app":
        globals()["app"] = application = create_app()
        return application
    raise AttributeError(name)
