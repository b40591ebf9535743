"""Results of the caller's jobs. Ownership: a job is yours when its ingest row or its
summary names your namespace as owner; anything else answers 404, existing or not."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from ..core.config import Settings
from ..core.errors import BadRequest, NotFound, ServiceUnavailable
from . import repository as repo
from .schemas import JobDetail, JobItem, JobPage, Metrics, StepNodeMetrics, TimeSeries

log = logging.getLogger(__name__)

MAX_ID_CHARS = 2800  # base64 of the longest source (s3:// + 63-byte bucket + 1024-byte key)


def job_id(source: str) -> str:
    return base64.urlsafe_b64encode(source.encode("utf-8")).rstrip(b"=").decode("ascii")


def source_of(job: str) -> str:
    if len(job) > MAX_ID_CHARS:
        raise NotFound("no such job")
    try:
        source = base64.urlsafe_b64decode(job + "=" * (-len(job) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        raise NotFound("no such job") from None
    if "\x00" in source:  # no source holds NUL (and PostgreSQL text can't)
        raise NotFound("no such job")
    return source


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinities (valid in PostgreSQL, not in JSON) become null."""
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()
    }


def _metrics(row: dict[str, Any]) -> dict[str, Any]:
    values = {name: row.get(name) for name in repo.METRIC_COLUMNS}
    raw = values.pop("component_energy_json")
    try:
        values["component_energy_j"] = json.loads(raw) if raw else None
    except ValueError:
        values["component_energy_j"] = None
    return _finite(values)


def _json_cell(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass
class JobsService:
    session: Session
    settings: Settings

    def _guard(self, action):
        """The analysis tables are the analysis' to create; say so if they don't exist yet."""
        try:
            return action()
        except (ProgrammingError, OperationalError):
            log.error("analysis tables are missing or unreadable")
            raise ServiceUnavailable(
                "results are not available yet (the analysis schema is missing)"
            ) from None

    def list_jobs(self, owner: str, status: str | None, limit: int, offset: int) -> JobPage:
        rows, total = self._guard(
            lambda: repo.list_jobs(self.session, owner, status, limit, offset)
        )
        jobs = [
            JobItem(
                **_finite(row),
                id=job_id(row["source"]),
                status=row["ingest_status"] or row["summary_status"],
                error=row["ingest_error"] or row["summary_error"],
            )
            for row in rows
        ]
        return JobPage(jobs=jobs, total=total, limit=limit, offset=offset)

    def _owned(self, job: str, owner: str) -> tuple[str, dict | None, dict | None]:
        source = source_of(job)
        ingest = repo.owned_ingest(self.session, source, owner)
        summary = repo.summary(self.session, source)
        if ingest is None and (summary is None or summary["owner"] != owner):
            raise NotFound("no such job")
        return source, ingest, summary

    def job_detail(self, job: str, owner: str) -> JobDetail:
        source, ingest, summary = self._guard(lambda: self._owned(job, owner))
        levels: dict[str, list[StepNodeMetrics]] = {"step": [], "node": [], "step_node": []}
        table_exists = False
        if summary is not None:
            for row in self._guard(lambda: repo.step_node_rows(self.session, source)):
                levels.setdefault(row["level"], []).append(
                    StepNodeMetrics(step=row["step"], node=row["node"], **_metrics(row))
                )
            table = summary["table_name"]
            table_exists = repo.is_job_table(table) and bool(
                repo.timeseries_columns(self.session, table)
            )
        return JobDetail(
            id=job,
            key=ingest["key"] if ingest else None,
            source=source,
            status=(ingest or summary)["status"],
            error=(ingest or {}).get("error") or (summary or {}).get("error"),
            job_id=summary["job_id"] if summary else None,
            analysed_at=summary["analysed_at"] if summary else None,
            integration=summary["integration"] if summary else None,
            has_timeseries=table_exists,
            summary=Metrics(**_metrics(summary)) if summary else None,
            steps=levels["step"],
            nodes=levels["node"],
            step_nodes=levels["step_node"],
        )

    def timeseries(
        self,
        job: str,
        owner: str,
        *,
        step: str | None,
        node: str | None,
        max_points: int | None,
    ) -> TimeSeries:
        _, _, summary = self._guard(lambda: self._owned(job, owner))
        table = (summary or {}).get("table_name")
        if not repo.is_job_table(table):
            raise NotFound("this job has no time series (yet)")
        columns = repo.timeseries_columns(self.session, table)
        if not columns:
            raise NotFound("this job has no time series (yet)")
        limit = self.settings.timeseries_max_rows
        rows = repo.timeseries(
            self.session,
            table,
            columns,
            step=step,
            node=node,
            max_points=max_points,
            row_limit=limit + 1,
        )
        if len(rows) > limit:
            raise BadRequest(
                f"the series has more than {limit} rows; ask for fewer with max_points, step "
                "or node"
            )
        return TimeSeries(
            id=job,
            columns=columns,
            rows=[[_json_cell(v) for v in row] for row in rows],
            downsampled=max_points is not None,
            max_points=max_points,
        )
