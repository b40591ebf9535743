"""Plain SQL over the tables the analysis writes (it owns their schema and migrations):
`ingest_objects`, `job_summary`, `job_files`, `job_step_node` and the per-job `job_<stem>`
tables (the listing of GET /jobs is in listing.py).
Column lists follow analysis_module/pipeline_core/schema.py; this package never imports it.

SQL text is assembled only from this module's constant column names and from a per-job
table name that comes from job_summary and passes `is_job_table`; every value is a bound
parameter. Hence the file-wide S608 exemption.
"""
# ruff: noqa: S608

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from . import listing

METRIC_COLUMNS = (
    "has_energy",
    "power_source",
    "energy_scope",
    "n_nodes",
    "n_steps",
    "n_tasks",
    "start_time",
    "end_time",
    "energy_j",
    "energy_kwh",
    "time_to_solution_s",
    "avg_power_w",
    "peak_power_w",
    "peak_power_epoch",
    "edp_js",
    "coverage",
    "gap_samples",
    "gap_intervals",
    "component_energy_json",
    "facility_energy_j",
    "cost_eur",
    "cost_note",
    "price_source",
    "co2_g",
    "co2_note",
    "carbon_source",
    "cpu_time_s",
    "max_rss_mib",
    "read_mib",
    "write_mib",
    "mean_cpu_util_pct",
    "appliance",
    "appliance_duration_s",
    "task_sentinel_values",
)
HEADLINE_COLUMNS = tuple(listing.HEADLINE)
# job_summary columns of a job as a whole (migration 0005), besides its figures.
JOB_COLUMNS = ("benchmark", "benchmark_set_by", "n_files", "n_files_failed")
# Work done and energy efficiency (docs/energy-metrics.md section 8), after JOB_COLUMNS.
WORK_COLUMNS = (
    "work_source",
    "work_group",
    "work_unit",
    "work_value",
    "work_runtime_s",
    "gflops",
    "gflop",
    "mem_bandwidth_gbytes_per_s",
    "energy_per_gflop_j",
    "gflops_per_w",
    "eur_per_gflop",
    "work_note",
)
# job_files, as GET /jobs/{id} shows them.
JOB_FILE_COLUMNS = (
    "file_source",
    "file_name",
    "role",
    "etag",
    "step",
    "node",
    "status",
    "error",
    "analysed_at",
)
# Per-job table: name -> how a downsampling bucket combines it. Instantaneous values are
# averaged; cumulative ones (restarting per step and node) and memory peaks take the max.
TIMESERIES_COLUMNS = {
    "step": None,
    "node": None,
    "time": "MIN",
    "epoch_s": "MIN",
    "elapsed_s": "MIN",
    "power_w": "AVG",
    "energy_j": "MAX",
    "price_eur_per_mwh": "AVG",
    "cost_eur": "MAX",
    "carbon_g_per_kwh": "AVG",
    "co2_g": "MAX",
    "n_tasks_sampled": "MAX",
    "cpu_util_pct": "AVG",
    "cpu_time_s": "MAX",
    "cpu_frequency_mhz": "AVG",
    "rss_mib": "MAX",
    "vmsize_mib": "MAX",
    "read_mib": "MAX",
    "write_mib": "MAX",
    "gpu_util_pct": "AVG",
    "gpu_mem_mib": "MAX",
}
# A per-job table is `job_<stem>` in [a-z0-9_], at most 63 bytes, and never one of the
# analysis' shared tables (nor, being `job_*`, one of ours).
TABLE_NAME = re.compile(r"job(_[a-z0-9_]{1,59})?")  # used with fullmatch
SHARED_TABLES = frozenset({"job_summary", "job_step_node", "job_files", "job_samples"})


def is_job_table(name: str | None) -> bool:
    return bool(name and TABLE_NAME.fullmatch(name) and name not in SHARED_TABLES)


def _rows(result) -> list[dict[str, Any]]:
    return [dict(row) for row in result.mappings()]


def job_uploads(session: Session, source: str, owner: str) -> list[dict[str, Any]]:
    """The owner's objects that belong to the job `source` (its key), removed ones included."""
    return _rows(
        session.execute(
            text(
                """SELECT source, key, status, error, size_bytes, received_at, updated_at
                FROM ingest_objects
                WHERE owner = :owner
                  AND (job_source = :source OR (job_source IS NULL AND source = :source))
                ORDER BY key"""
            ),
            {"source": source, "owner": owner},
        )
    )


def job_files(session: Session, source: str) -> list[dict[str, Any]]:
    columns = ", ".join(JOB_FILE_COLUMNS)
    return _rows(
        session.execute(
            text(
                f"""SELECT {columns} FROM job_files WHERE job_source = :source
                ORDER BY file_name, file_source"""
            ),
            {"source": source},
        )
    )


def set_benchmark(session: Session, source: str, benchmark: str | None) -> None:
    """The owner's choice, kept by later analyses (benchmark_set_by = 'owner')."""
    session.execute(
        text(
            """UPDATE job_summary SET benchmark = :benchmark, benchmark_set_by = 'owner'
            WHERE source = :source"""
        ),
        {"source": source, "benchmark": benchmark},
    )


def summary(session: Session, source: str) -> dict[str, Any] | None:
    columns = ", ".join(
        (
            "source",
            "job_id",
            "owner",
            "status",
            "error",
            "table_name",
            "analysed_at",
            "integration",
            *JOB_COLUMNS,
            *METRIC_COLUMNS,
            *WORK_COLUMNS,
        )
    )
    row = (
        session.execute(
            text(f"SELECT {columns} FROM job_summary WHERE source = :source"), {"source": source}
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def step_node_rows(session: Session, source: str) -> list[dict[str, Any]]:
    columns = ", ".join(("level", "step", "node", *METRIC_COLUMNS))
    return _rows(
        session.execute(
            text(
                f"""SELECT {columns} FROM job_step_node WHERE source = :source
                ORDER BY level, step, node"""
            ),
            {"source": source},
        )
    )


def timeseries_columns(session: Session, table: str) -> list[str] | None:
    """The known columns `table` has, in contract order; None when it doesn't exist."""
    inspector = inspect(session.connection())
    if not inspector.has_table(table):
        return None
    present = {column["name"] for column in inspector.get_columns(table)}
    return [name for name in TIMESERIES_COLUMNS if name in present]


def _filters(step: str | None, node: str | None, alias: str = "") -> str:
    parts = []
    if step is not None:
        parts.append(f"{alias}step = :step")
    if node is not None:
        parts.append(f"{alias}node = :node")
    return (" WHERE " + " AND ".join(parts)) if parts else ""


def timeseries(
    session: Session,
    table: str,
    columns: Sequence[str],
    *,
    step: str | None,
    node: str | None,
    max_points: int | None,
    row_limit: int,
) -> list[tuple]:
    """Rows of `table` ordered by step, node and time; with `max_points`, at most that many
    per step and node: equal-width time buckets, combined as TIMESERIES_COLUMNS says.
    `table` must come from job_summary.table_name and pass `is_job_table`."""
    if not is_job_table(table) or any(c not in TIMESERIES_COLUMNS for c in columns):
        raise ValueError("refusing an unexpected table or column name")
    params = {"step": step, "node": node, "n": max_points, "limit": row_limit}
    if max_points is None:
        sql = f"""SELECT {", ".join(f'"{c}"' for c in columns)} FROM "{table}"{_filters(step, node)}
            ORDER BY step, node, epoch_s LIMIT :limit"""
    else:
        combined = ", ".join(
            f'"{c}"'
            if TIMESERIES_COLUMNS[c] is None
            else f'{TIMESERIES_COLUMNS[c]}("{c}") AS "{c}"'
            for c in columns
        )
        # Bucket width (e1 - e0) / n + 1 (integer division) yields at most n buckets.
        sql = f"""
            WITH bounds AS (
                SELECT step, node, MIN(epoch_s) AS e0, MAX(epoch_s) AS e1
                FROM "{table}"{_filters(step, node)} GROUP BY step, node
            ), bucketed AS (
                SELECT t.*, (t.epoch_s - b.e0) / ((b.e1 - b.e0) / :n + 1) AS bucket
                FROM "{table}" t JOIN bounds b ON t.step = b.step AND t.node = b.node
            )
            SELECT {combined} FROM bucketed GROUP BY step, node, bucket
            ORDER BY step, node, epoch_s LIMIT :limit"""
    return [tuple(row) for row in session.execute(text(sql), params)]
