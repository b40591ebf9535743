"""GET /jobs in SQL: the caller's jobs, one row each, newest first, a keyset page at a time.

Two kinds of job are listed:
- analysed: a `job_summary` row of the owner with status ok or failed (removed never);
- waiting: `ingest_objects` rows of the owner not yet analysed (received, queued, running, or
  failed before any analysis), grouped by their job key (`job_source`; the object's own source
  for rows written before jobs existed), that have no `job_summary` row. Their status is
  `queued` while a file of theirs is queued or running, `pending` while files only arrived,
  `failed` when every file failed before analysis.

Order: (sort_at DESC, source), sort_at = COALESCE(start_time, analysed_at) for analysed jobs
and the first file's arrival for waiting ones. Each branch is limited before the union, so a
page reads at most `limit` rows of each from indexes (migration 0006_job_listing).

SQL text is built only from this module's constants; every value is a bound parameter.
"""
# ruff: noqa: S608

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from .cursor import Cursor

# The headline figures and their PostgreSQL types (a waiting job has none: typed NULLs).
HEADLINE = {
    "has_energy": "boolean",
    "n_nodes": "integer",
    "n_steps": "integer",
    "start_time": "timestamptz",
    "end_time": "timestamptz",
    "energy_j": "double precision",
    "energy_kwh": "double precision",
    "time_to_solution_s": "double precision",
    "avg_power_w": "double precision",
    "peak_power_w": "double precision",
    "coverage": "double precision",
    "cost_eur": "double precision",
    "co2_g": "double precision",
}
ANALYSED_STATUSES = ("ok", "failed")
WAITING_STATUSES = ("pending", "queued", "failed")
# Ingest states of an object whose job may still be waiting for its analysis.
_UNANALYSED = "('received', 'queued', 'running', 'failed')"
_SORT = "COALESCE(s.start_time, s.analysed_at)"
_KEY = "COALESCE(i.job_source, i.source)"


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    benchmark: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    job_id: str | None = None  # the Slurm job id (digits)

    @property
    def on_start_time(self) -> bool:
        return self.since is not None or self.until is not None


def _analysed_where(f: Filters, after: Cursor | None) -> str:
    parts = ["s.owner = :owner", "s.status IN ('ok', 'failed')"]
    if f.status is not None:
        parts.append("s.status = :status")
    if f.benchmark is not None:
        parts.append("s.benchmark = :benchmark")
    if f.job_id is not None:
        parts.append("s.job_id = :job_id")
    if f.since is not None:
        parts.append("s.start_time >= :since")
    if f.until is not None:
        parts.append("s.start_time < :until")
    if after is not None:
        # The first condition bounds the index range; the second skips the cursor's own time.
        parts.append(f"{_SORT} <= :after_t")
        parts.append(f"({_SORT} < :after_t OR s.source > :after_s)")
    return " AND ".join(parts)


def _waiting_where(f: Filters, after: Cursor | None) -> str:
    parts = ["TRUE"]
    if f.status is not None:
        parts.append("status = :status")
    if f.benchmark is not None:
        parts.append("benchmark = :benchmark")
    if f.job_id is not None:  # a waiting job's key ends in its Slurm job: `<folder>/job_<id>`
        parts.append("source LIKE :job_key")
    if after is not None:
        parts.append("(sort_at < :after_t OR (sort_at = :after_t AND source > :after_s))")
    return " AND ".join(parts)


# The user's unanalysed files grouped by job key, then each key looked up in job_summary's
# primary key. `OFFSET 0` keeps the lookup a probe per key: as a plain NOT EXISTS the planner
# may turn it into an anti-join that reads every job of every user (beside 30,000 jobs: 13 ms,
# where the probes take 1-2 ms).
_WAITING = f"""
    SELECT * FROM (
        SELECT {_KEY} AS source,
               CASE WHEN bool_or(i.status IN ('queued', 'running')) THEN 'queued'
                    WHEN bool_or(i.status = 'received') THEN 'pending'
                    ELSE 'failed' END AS status,
               MIN(i.received_at) AS sort_at,
               MAX(i.benchmark) AS benchmark,
               COUNT(*)::int AS n_files,
               (COUNT(*) FILTER (WHERE i.status = 'failed'))::int AS n_files_failed,
               CASE WHEN bool_and(i.status = 'failed') THEN MIN(i.error) END AS error
        FROM ingest_objects i
        WHERE i.owner = :owner AND i.status IN {_UNANALYSED}
        GROUP BY {_KEY}
    ) unanalysed
    WHERE NOT EXISTS (
        SELECT 1 FROM job_summary s WHERE s.source = unanalysed.source OFFSET 0
    )
"""


def _branches(f: Filters, after: Cursor | None) -> list[str]:
    """The SELECTs a listing with these filters unions (a waiting job has no start time and
    is never ok)."""
    columns = ", ".join(f"s.{c}" for c in HEADLINE)
    waiting_nulls = ", ".join(f"NULL::{kind} AS {c}" for c, kind in HEADLINE.items())
    branches = []
    if f.status in (None, *ANALYSED_STATUSES):
        branches.append(
            f"""SELECT s.source, s.status, {_SORT} AS sort_at, s.benchmark, s.n_files,
                s.n_files_failed, s.error, s.job_id, s.analysed_at, s.benchmark_set_by,
                {columns}
            FROM job_summary s WHERE {_analysed_where(f, after)}"""
        )
    if f.status in (None, *WAITING_STATUSES) and not f.on_start_time:
        branches.append(
            f"""SELECT source, status, sort_at, benchmark, n_files, n_files_failed, error,
                NULL::text AS job_id, NULL::timestamptz AS analysed_at,
                NULL::text AS benchmark_set_by,
                {waiting_nulls}
            FROM ({_WAITING}) w WHERE {_waiting_where(f, after)}"""
        )
    return branches


def _params(owner: str, f: Filters, after: Cursor | None, limit: int) -> dict[str, Any]:
    params: dict[str, Any] = {"owner": owner, "limit": limit}
    params.update(status=f.status, benchmark=f.benchmark, since=f.since, until=f.until)
    if f.job_id is not None:
        params.update(job_id=f.job_id, job_key=f"%/job_{f.job_id}")
    if after is not None:
        params.update(after_t=after.sort_at, after_s=after.source)
    return params


def page(
    session: Session, owner: str, f: Filters, after: Cursor | None, limit: int
) -> list[dict[str, Any]]:
    """Up to `limit` jobs after `after`, in listing order."""
    branches = _branches(f, after)
    if not branches:
        return []
    limited = " UNION ALL ".join(
        f"(SELECT * FROM ({b}) AS b ORDER BY sort_at DESC, source LIMIT :limit)" for b in branches
    )
    sql = f"SELECT * FROM ({limited}) AS jobs ORDER BY sort_at DESC, source LIMIT :limit"
    result = session.execute(text(sql), _params(owner, f, after, limit))
    return [dict(row) for row in result.mappings()]


def total(session: Session, owner: str, f: Filters) -> int:
    branches = _branches(f, None)
    if not branches:
        return 0
    counts = " + ".join(f"(SELECT COUNT(*) FROM ({b}) AS b)" for b in branches)
    return session.execute(text(f"SELECT {counts}"), _params(owner, f, None, 0)).scalar_one()


def uploads_of(session: Session, owner: str, sources: list[str]) -> dict[str, dict[str, Any]]:
    """Per job key: the bytes its objects take and when its first one arrived and its last
    one changed (removed objects left out)."""
    if not sources:
        return {}
    sql = text(
        f"""SELECT {_KEY} AS source, SUM(i.size_bytes)::bigint AS size_bytes,
               MIN(i.received_at) AS received_at, MAX(i.updated_at) AS updated_at
        FROM ingest_objects i
        WHERE i.owner = :owner AND i.status <> 'removed'
          AND (i.job_source IN :sources OR (i.job_source IS NULL AND i.source IN :sources))
        GROUP BY {_KEY}"""
    ).bindparams(bindparam("sources", expanding=True))
    rows = session.execute(sql, {"owner": owner, "sources": sources}).mappings()
    return {row["source"]: {k: v for k, v in row.items() if k != "source"} for row in rows}
