"""Results of the caller's jobs. Ownership: a job is yours when one of its uploaded objects
(ingest_objects) or its summary names your namespace as owner; anything else answers 404,
existing or not."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from ..core.benchmark import check_benchmark_name
from ..core.config import Settings
from ..core.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from . import listing, report
from . import repository as repo
from .cursor import decode as decode_cursor
from .cursor import encode as encode_cursor
from .schemas import (
    JobDetail,
    JobFile,
    JobItem,
    JobPage,
    Metrics,
    ReportLink,
    StepNodeMetrics,
    TimeSeries,
    Work,
)

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


def _work(summary: dict[str, Any] | None) -> Work | None:
    if summary is None or summary.get("work_source") is None:
        return None
    return Work(**_finite({name: summary.get(name) for name in repo.WORK_COLUMNS}))


def _upload_file(row: dict[str, Any]) -> JobFile:
    """A file that arrived but is not analysed yet, as its upload stands."""
    return JobFile(
        name=row["key"].rsplit("/", 1)[-1],
        source=row["source"],
        status=row["status"],
        error=row["error"],
    )


def _analysed_file(row: dict[str, Any]) -> JobFile:
    values = {k: v for k, v in row.items() if k not in ("file_source", "file_name")}
    return JobFile(**values, name=row["file_name"], source=row["file_source"])


def _job_state(summary: dict | None, uploads: list[dict]) -> tuple[str, str | None]:
    """(status, error) of a job: its analysis', else what its files' uploads say
    (as listing.py derives it for waiting jobs)."""
    if summary is not None:
        return summary["status"], summary["error"]
    states = {row["status"] for row in uploads}
    errors = sorted(row["error"] for row in uploads if row["error"])
    if states & {"queued", "running"}:
        return "queued", None
    if "received" in states:
        return "pending", None
    if "failed" in states:
        return "failed", errors[0] if errors else None
    return "removed", None


def _json_cell(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def guard_results(action):
    """The analysis tables are the analysis' to create; say so if they don't exist yet."""
    try:
        return action()
    except (ProgrammingError, OperationalError):
        log.error("analysis tables are missing or unreadable")
        raise ServiceUnavailable(
            "results are not available yet (the analysis schema is missing)"
        ) from None


@dataclass
class JobsService:
    session: Session
    settings: Settings

    def _guard(self, action):
        return guard_results(action)

    def _key(self, source: str) -> str | None:
        """The job's key inside the API's bucket, or None for a job from elsewhere."""
        prefix = f"s3://{self.settings.minio_bucket}/"
        return source[len(prefix) :] if source.startswith(prefix) else None

    def list_jobs(
        self, owner: str, filters: listing.Filters, cursor: str | None, limit: int
    ) -> JobPage:
        after = decode_cursor(cursor) if cursor else None
        rows, total = self._guard(
            lambda: (
                listing.page(self.session, owner, filters, after, limit + 1),
                listing.total(self.session, owner, filters),
            )
        )
        more, rows = len(rows) > limit, rows[:limit]
        uploads = self._guard(
            lambda: listing.uploads_of(self.session, owner, [r["source"] for r in rows])
        )
        jobs = [
            JobItem(
                **_finite(row),
                **uploads.get(row["source"], {}),
                id=job_id(row["source"]),
                key=self._key(row["source"]),
            )
            for row in rows
        ]
        last = rows[-1] if more else None
        next_cursor = encode_cursor(last["sort_at"], last["source"]) if last else None
        return JobPage(jobs=jobs, total=total, limit=limit, next_cursor=next_cursor)

    def _owned(self, job: str, owner: str) -> tuple[str, list[dict], dict | None]:
        source = source_of(job)
        uploads = repo.job_uploads(self.session, source, owner)
        summary = repo.summary(self.session, source)
        if not uploads and (summary is None or summary["owner"] != owner):
            raise NotFound("no such job")
        return source, uploads, summary

    def job_detail(self, job: str, owner: str) -> JobDetail:
        source, uploads, summary = self._guard(lambda: self._owned(job, owner))
        levels: dict[str, list[StepNodeMetrics]] = {"step": [], "node": [], "step_node": []}
        table_exists = False
        files = [_upload_file(row) for row in uploads if row["status"] != "removed"]
        facts: dict[str, Any] = {"n_files": len(files)}
        if summary is not None:
            for row in self._guard(lambda: repo.step_node_rows(self.session, source)):
                levels.setdefault(row["level"], []).append(
                    StepNodeMetrics(step=row["step"], node=row["node"], **_metrics(row))
                )
            analysed = self._guard(lambda: repo.job_files(self.session, source))
            files = [_analysed_file(row) for row in analysed]
            facts = {name: summary[name] for name in repo.JOB_COLUMNS}
            table = summary["table_name"]
            table_exists = repo.is_job_table(table) and bool(
                repo.timeseries_columns(self.session, table)
            )
        status, error = _job_state(summary, uploads)
        return JobDetail(
            **facts,
            id=job,
            key=self._key(source),
            source=source,
            status=status,
            error=error,
            job_id=summary["job_id"] if summary else None,
            analysed_at=summary["analysed_at"] if summary else None,
            integration=summary["integration"] if summary else None,
            has_timeseries=table_exists,
            summary=Metrics(**_metrics(summary)) if summary else None,
            work=_work(summary),
            files=files,
            steps=levels["step"],
            nodes=levels["node"],
            step_nodes=levels["step_node"],
        )

    def set_benchmark(self, job: str, owner: str, benchmark: str | None) -> JobDetail:
        if benchmark is not None:
            check_benchmark_name(benchmark, field="benchmark")
        source, _uploads, summary = self._guard(lambda: self._owned(job, owner))
        if summary is None:
            raise Conflict(
                "the job is not analysed yet; name its benchmark on upload or once it is",
                code="not_analysed",
            )
        repo.set_benchmark(self.session, source, benchmark)
        self.session.commit()
        log.info(
            "job benchmark set",
            extra={
                "event": "job_benchmark_set",
                "namespace": owner,
                "job": source,
                "benchmark": benchmark,
                "previous": summary["benchmark"],
            },
        )
        return self.job_detail(job, owner)

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

    def report_page(self, job: str, owner: str) -> str:
        source, _uploads, summary = self._guard(lambda: self._owned(job, owner))
        return self._guard(lambda: report.page(self.session, source, summary))

    def report_link(self, job: str, owner: str, base_url: str) -> ReportLink:
        source, _uploads, summary = self._guard(lambda: self._owned(job, owner))
        if summary is None:
            raise NotFound("this job has no report (yet): it is not analysed")
        token, expires = report.sign_link(self.settings, source, owner)
        base = (self.settings.api_public_url or base_url).rstrip("/")
        return ReportLink(
            url=f"{base}/reports/{token}", expires_at=datetime.fromtimestamp(expires, UTC)
        )

    def shared_report(self, token: str) -> str:
        source, owner = report.open_link(self.settings, token)
        summary = self._guard(lambda: repo.summary(self.session, source))
        if summary is None or summary["owner"] != owner:
            raise NotFound("no such report (the link is unknown or has expired)")
        return self._guard(lambda: report.page(self.session, source, summary))
