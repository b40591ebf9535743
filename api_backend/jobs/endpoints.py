"""HTTP layer of /jobs: the caller's jobs, read from the analysis tables; the owner may name
a job's benchmark."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from ..api.deps import CurrentUser, SessionDep, SettingsDep
from ..core.benchmark import check_benchmark_name
from ..core.errors import BadRequest, error_responses
from ..core.strict_json import StrictJSONRoute
from .cursor import MAX_CURSOR_CHARS
from .instants import parse_instant
from .listing import Filters
from .report import PAGE_HEADERS
from .schemas import ID_DESCRIPTION, BenchmarkUpdate, JobDetail, JobPage, ReportLink, TimeSeries
from .service import MAX_ID_CHARS, JobsService

router = APIRouter(prefix="/jobs", tags=["jobs"], route_class=StrictJSONRoute)
# Report pages opened through a signed link, without an access token (mail, a browser).
reports_router = APIRouter(prefix="/reports", tags=["jobs"], route_class=StrictJSONRoute)

JobId = Annotated[str, Path(max_length=MAX_ID_CHARS, description=ID_DESCRIPTION)]
STATUSES = Literal["ok", "failed", "pending", "queued"]
SINCE = "Jobs that started at or after this time (ISO 8601, e.g. 2026-01-31T00:00:00Z)."
UNTIL = "Jobs that started before this time (ISO 8601)."


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
    summary="Your jobs, newest first, a page at a time",
    description=(
        "One entry per job (a Slurm job's node-step files and merged file are one job): "
        "analysed jobs (ok, failed) and jobs whose files arrived but are not analysed yet "
        "(pending, queued; failed when every file failed before analysis). Ordered by start "
        "time (analysis time when there is none; first arrival for waiting jobs), newest "
        "first. Pages: pass `next_cursor` as `cursor` until it is null. `since`/`until` "
        "(ISO 8601; without a zone, UTC) keep jobs with since <= start_time < until, so they "
        "leave out jobs not analysed yet."
    ),
    responses=error_responses(400, 401, 503),
)
def list_jobs(
    user: CurrentUser,
    jobs: JobsDep,
    request: Request,
    status: Annotated[STATUSES | None, Query(description="Only jobs in this state.")] = None,
    benchmark: Annotated[
        str | None, Query(max_length=128, description="Only jobs of this benchmark.")
    ] = None,
    job_id: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{1,20}$", description="Only jobs with this Slurm job id."),
    ] = None,
    since: Annotated[str | None, Query(max_length=64, description=SINCE)] = None,
    until: Annotated[str | None, Query(max_length=64, description=UNTIL)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR_CHARS, description="`next_cursor` of a page.")
    ] = None,
):
    if "offset" in request.query_params:
        raise BadRequest(
            "offset is not supported: page with cursor (the next_cursor of the previous page)",
            code="offset_removed",
        )
    filters = Filters(
        status=status,
        benchmark=check_benchmark_name(benchmark, "benchmark") if benchmark else None,
        since=parse_instant(since, "since"),
        until=parse_instant(until, "until"),
        job_id=str(int(job_id)) if job_id is not None else None,
    )
    return jobs.list_jobs(user.namespace, filters, cursor, limit)


@router.get(
    "/{job_id}",
    response_model=JobDetail,
    summary="One job: its files, summary, per-step and per-node figures",
    responses=error_responses(401, 404, 503),
)
def job_detail(job_id: JobId, user: CurrentUser, jobs: JobsDep):
    return jobs.job_detail(job_id, user.namespace)


@router.patch(
    "/{job_id}",
    response_model=JobDetail,
    summary="Name the job's benchmark (or clear it)",
    description=(
        'Body `{"benchmark": "name"}` or `{"benchmark": null}`. Only the job\'s owner may; '
        "the name is kept when the job is analysed again. 409 `not_analysed` before the "
        "first analysis (name it on upload instead)."
    ),
    responses=error_responses(400, 401, 404, 409, 503),
)
def set_benchmark(job_id: JobId, body: BenchmarkUpdate, user: CurrentUser, jobs: JobsDep):
    return jobs.set_benchmark(job_id, user.namespace, body.benchmark)


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


HTML_RESPONSE = {200: {"content": {"text/html": {"schema": {"type": "string"}}}}}


@router.get(
    "/{job_id}/report",
    response_class=HTMLResponse,
    summary="The job on one self-contained HTML page",
    description=(
        "Headline figures (kWh, euro, CO2, an everyday comparison), warnings where coverage, "
        "prices or files are incomplete, and plots: power per node with the steps marked, "
        "cumulative energy and cost, energy per step and per node. The page loads nothing "
        "(no script, font or image from elsewhere) and works offline."
    ),
    responses={**HTML_RESPONSE, **error_responses(401, 404, 503)},
)
def job_report(job_id: JobId, user: CurrentUser, jobs: JobsDep):
    return HTMLResponse(jobs.report_page(job_id, user.namespace), headers=PAGE_HEADERS)


@router.post(
    "/{job_id}/report-link",
    response_model=ReportLink,
    summary="A link that opens the job's report without an access token",
    description=(
        "For mail (Slurm's MailProg, an epilog) and browsers: the link carries a signature "
        "valid for REPORT_LINK_TTL_S (7 days by default) and opens only this job's page."
    ),
    responses=error_responses(401, 404, 503),
)
def job_report_link(job_id: JobId, user: CurrentUser, jobs: JobsDep, request: Request):
    return jobs.report_link(job_id, user.namespace, str(request.base_url))


@reports_router.get(
    "/{token}",
    response_class=HTMLResponse,
    summary="A job's report page, opened through its signed link",
    responses={**HTML_RESPONSE, **error_responses(404, 503)},
)
def shared_report(
    token: Annotated[str, Path(max_length=4096, pattern=r"^[A-Za-z0-9_.-]+$")], jobs: JobsDep
):
    return HTMLResponse(jobs.shared_report(token), headers=PAGE_HEADERS)
