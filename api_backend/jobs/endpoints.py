"""HTTP layer of /jobs: the caller's analysed profiles, read from the analysis tables."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from ..api.deps import CurrentUser, SessionDep, SettingsDep
from ..core.errors import error_responses
from .schemas import ID_DESCRIPTION, JobDetail, JobPage, TimeSeries
from .service import MAX_ID_CHARS, JobsService

router = APIRouter(prefix="/jobs", tags=["jobs"])

JobId = Annotated[str, Path(max_length=MAX_ID_CHARS, description=ID_DESCRIPTION)]
STATUSES = Literal["received", "queued", "running", "ok", "failed", "removed"]


async def _service(session: SessionDep, settings: SettingsDep) -> JobsService:
    return JobsService(session, settings)


JobsDep = Annotated[JobsService, Depends(_service)]

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """Text that a spreadsheet would evaluate gets a leading `'`; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


@router.get(
    "",
    response_model=JobPage,
    summary="Your analysed profiles, newest first",
    description="Status and headline figures per uploaded profile. Removed objects are "
    "left out unless `status=removed` is asked for.",
    responses=error_responses(401, 503),
)
def list_jobs(
    user: CurrentUser,
    jobs: JobsDep,
    status: Annotated[STATUSES | None, Query(description="Only jobs in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
):
    return jobs.list_jobs(user.namespace, status, limit, offset)


@router.get(
    "/{job_id}",
    response_model=JobDetail,
    summary="One job: summary plus per-step and per-node figures",
    responses=error_responses(401, 404, 503),
)
def job_detail(job_id: JobId, user: CurrentUser, jobs: JobsDep):
    return jobs.job_detail(job_id, user.namespace)


@router.get(
    "/{job_id}/timeseries",
    response_model=TimeSeries,
    summary="The job's samples per step, node and time (JSON or CSV)",
    description=(
        "With `max_points`, each step-and-node series is cut into at most that many "
        "equal time buckets: power, utilisation, frequency, price and carbon intensity are "
        "averaged; cumulative energy, cost, CO2, CPU time and I/O, and memory take the "
        "bucket's maximum; `time`/`epoch_s`/`elapsed_s` are the bucket's first sample."
    ),
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **error_responses(400, 401, 404, 503),
    },
)
def job_timeseries(
    job_id: JobId,
    user: CurrentUser,
    jobs: JobsDep,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
    max_points: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    step: Annotated[str | None, Query(max_length=64)] = None,
    node: Annotated[str | None, Query(max_length=255)] = None,
):
    series = jobs.timeseries(job_id, user.namespace, step=step, node=node, max_points=max_points)
    if format == "json":
        return series
    out = io.StringIO()
    # RFC 4180 line ends: a cell holding CR or LF is then quoted instead of splitting the row.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(name) for name in series.columns])
    writer.writerows([csv_cell(value) for value in row] for row in series.rows)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="timeseries.csv"'},
    )
