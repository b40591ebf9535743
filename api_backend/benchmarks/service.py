"""A benchmark's runs are the caller's analysed jobs (job_summary rows with status `ok`, their
namespace as `owner`) that name it. Another user's benchmark answers 404, existing or not."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ..core.errors import NotFound
from ..jobs.service import guard_results, job_id
from . import repository as repo
from .schemas import BenchmarkList, BenchmarkSummary, FigureStats, Run, RunPage

log = logging.getLogger(__name__)

CSV_COLUMNS = ("id", *repo.RUN_COLUMNS)


def _figure(row: dict[str, Any], name: str) -> FigureStats:
    source = row[f"{name}_best_source"]
    return FigureStats(
        best=row[f"{name}_best"],
        median=row[f"{name}_median"],
        best_run=job_id(source) if source is not None else None,
        count=row[f"{name}_count"],
    )


def _summary(row: dict[str, Any]) -> BenchmarkSummary:
    return BenchmarkSummary(
        name=row["benchmark"],
        runs=row["runs"],
        last_run=row["last_run"],
        **{name: _figure(row, name) for name in repo.STATS},
    )


def _run(row: dict[str, Any]) -> Run:
    return Run(id=job_id(row["source"]), **{name: row[name] for name in repo.RUN_COLUMNS})


@dataclass
class BenchmarksService:
    session: Session

    def _guard(self, action):
        return guard_results(action)

    def benchmarks(self, owner: str) -> BenchmarkList:
        rows = self._guard(lambda: repo.benchmarks(self.session, owner))
        return BenchmarkList(benchmarks=[_summary(row) for row in rows])

    def runs(
        self, owner: str, name: str, *, sort: str, order: str | None, limit: int, offset: int
    ) -> RunPage:
        direction = (order or repo.SORTS[sort].lower()).upper()
        rows, total = self._guard(
            lambda: repo.runs(self.session, owner, name, sort, direction, limit, offset)
        )
        if total == 0:
            raise NotFound("no such benchmark")
        return RunPage(
            benchmark=name,
            runs=[_run(row) for row in rows],
            total=total,
            sort=sort,
            order=direction.lower(),
            limit=limit,
            offset=offset,
        )
