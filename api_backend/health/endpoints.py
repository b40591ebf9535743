"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..api.deps import RuntimeDep
from ..core.metrics import render_metrics
from ..runtime import Runtime

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(description="ok or unavailable", examples=["ok"])
    database: str = Field(examples=["ok"])
    object_store: str = Field(examples=["ok"])


@router.get("/healthz", response_model=Health, summary="The process is alive")
async def healthz():
    return Health(status="ok")


def _database_ok(runtime: Runtime) -> bool:
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="The database and the bucket answer",
    responses={503: {"model": Readiness, "description": "A dependency is unreachable"}},
)
async def readyz(runtime: RuntimeDep):
    database = await run_in_threadpool(_database_ok, runtime)
    bucket = await run_in_threadpool(runtime.store.bucket_exists)
    body = Readiness(
        status="ok" if database and bucket else "unavailable",
        database="ok" if database else "unreachable",
        object_store="ok" if bucket else "unreachable or bucket missing",
    )
    return JSONResponse(body.model_dump(), status_code=200 if database and bucket else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics():
    payload, content_type = render_metrics()
    return Response(payload, media_type=content_type)
