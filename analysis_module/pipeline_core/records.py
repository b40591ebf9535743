"""Arrow rows for job_summary, job_step_node and job_files from computed metrics."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from analysis_module.pipeline_core.epochs import timestamp_or_none
from analysis_module.pipeline_core.schema import (
    JOB_FILES,
    JOB_STEP_NODE,
    JOB_SUMMARY,
    METRIC_FIELDS,
)

METRIC_NAMES = [f.name for f in METRIC_FIELDS]


def _metric_values(metrics: dict) -> dict:
    values = {name: metrics.get(name) for name in METRIC_NAMES}
    values["start_time"] = timestamp_or_none(metrics.get("start_time"))
    values["end_time"] = timestamp_or_none(metrics.get("end_time"))
    return values


def _rule_used(rule: str | None, metrics: dict | None) -> str | None:
    """xcc's `Energy` is summed, not integrated (docs/energy-metrics.md section 3): a job whose
    every node is xcc records `sum`; any other job records the rule applied to its power."""
    if metrics is not None and metrics.get("power_source") == "Energy":
        return "sum"
    return rule


def summary_table(
    *,
    source: str,
    status: str,
    job_id: str | None = None,
    owner: str | None = None,
    etag: str | None = None,
    error: str | None = None,
    table_name: str | None = None,
    integration: str | None = None,
    metrics: dict | None = None,
    analysed_at: datetime | None = None,
    benchmark: str | None = None,
    benchmark_set_by: str | None = None,
    n_files: int | None = None,
    n_files_failed: int | None = None,
    work: dict | None = None,
) -> pa.Table:
    """One JOB_SUMMARY row; a failed analysis carries `error` and no metrics."""
    row = {
        "source": source,
        "job_id": job_id,
        "owner": owner,
        "source_etag": etag,
        "status": status,
        "error": error,
        "table_name": table_name,
        "analysed_at": analysed_at or datetime.now(tz=UTC),
        "integration": _rule_used(integration, metrics),
        **_metric_values(metrics or {}),
        "benchmark": benchmark,
        "benchmark_set_by": benchmark_set_by,
        "n_files": n_files,
        "n_files_failed": n_files_failed,
        **(work or {}),
    }
    if metrics is None:
        row["has_energy"] = None
    return pa.Table.from_pylist([row], schema=JOB_SUMMARY)


def breakdown_table(source: str, rows: list[dict]) -> pa.Table:
    records = [
        {
            "source": source,
            "level": r["level"],
            "step": r["step"],
            "node": r["node"],
            **_metric_values(r),
        }
        for r in rows
    ]
    return pa.Table.from_pylist(records, schema=JOB_STEP_NODE)


def files_table(
    job_source: str, files: list[dict], analysed_at: datetime | None = None
) -> pa.Table:
    """JOB_FILES rows of one job; each of `files` gives file_source, file_name, role, etag,
    step, node, status and error."""
    when = analysed_at or datetime.now(tz=UTC)
    rows = [{"job_source": job_source, **f, "analysed_at": when} for f in files]
    return pa.Table.from_pylist(rows, schema=JOB_FILES)
