"""HTTP layer of /benchmarks: the caller's benchmarks and their runs side by side."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from ..api.deps import CurrentUser, SessionDep
from ..core.errors import error_responses
from ..jobs.endpoints import csv_cell
from .schemas import NAME_DESCRIPTION, NAME_PATTERN, BenchmarkList, RunPage
from .service import CSV_COLUMNS, BenchmarksService

router = APIRouter(prefix="/benchmarks", tags=["benchmarks"])

Name = Annotated[str, Path(pattern=NAME_PATTERN, description=NAME_DESCRIPTION)]
SORTS = Literal["energy_j", "time_to_solution_s", "edp_js", "gflops_per_w", "start_time"]


async def _service(session: SessionDep) -> BenchmarksService:
    return BenchmarksService(session)


BenchmarksDep = Annotated[BenchmarksService, Depends(_service)]


@router.get(
    "",
    response_model=BenchmarkList,
    summary="Your benchmarks: runs, best and median figures",
    description="Per benchmark named by your analysed jobs: the number of runs, the latest "
    "start, and for energy, time to solution, EDP, GFLOP/W and J/GFLOP the best value (the "
    "lowest; the highest GFLOP/W), its run's job id and the median. A run without a figure "
    "counts as a run and is left out of that figure.",
    responses=error_responses(401, 503),
)
def list_benchmarks(user: CurrentUser, benchmarks: BenchmarksDep):
    return benchmarks.benchmarks(user.namespace)


@router.get(
    "/{name}/runs",
    response_model=RunPage,
    summary="The benchmark's runs side by side (JSON or CSV)",
    description="Sorted by `sort` (nulls last, ties by source). Without `order`, the best "
    "come first (lowest energy, time and EDP, highest GFLOP/W) or, for start_time, the "
    "newest. Pages by `limit` and `offset`; the CSV holds the same page, its total in "
    "`X-Total-Count`.",
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **error_responses(401, 404, 503),
    },
)
def benchmark_runs(
    name: Name,
    user: CurrentUser,
    benchmarks: BenchmarksDep,
    sort: Annotated[SORTS, Query()] = "start_time",
    order: Annotated[Literal["asc", "desc"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
):
    page = benchmarks.runs(user.namespace, name, sort=sort, order=order, limit=limit, offset=offset)
    if format == "json":
        return page
    return _csv(page)


def _csv(page: RunPage) -> Response:
    out = io.StringIO()
    # RFC 4180 line ends: a cell holding CR or LF is then quoted instead of splitting the row.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for run in page.runs:
        values = run.model_dump(mode="json")
        writer.writerow([csv_cell(values[name]) for name in CSV_COLUMNS])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{page.benchmark}-runs.csv"',
            "X-Total-Count": str(page.total),
        },
    )
