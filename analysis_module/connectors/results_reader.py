"""Reads a job's published results back from a sink's tables (local DuckDB or PostgreSQL).

For the batch CLI's `--report DIR` and the end-of-job summary: the rows a `JobReport` needs,
read with the same connection the sink writes through. Samples are averaged into at most
REPORT_POINTS buckets per step and node in SQL, so a 24-hour 1 Hz job stays a small page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from analysis_module.connectors.duckdb_sink import DuckDBSink
from analysis_module.pipeline_core.naming import is_valid_table_name
from job_report import JobReport

REPORT_POINTS = 600


def open_local_results(path: Path) -> DuckDBSink:
    """A read-only view of a local results file (a writer may hold it: DuckDB then refuses
    with an IOException, which callers that poll treat as "not yet")."""
    return DuckDBSink(duckdb.connect(str(path), read_only=True), "main.", is_postgres=False)


def _rows(sink: DuckDBSink, sql: str, params: list) -> list[dict[str, Any]]:
    cursor = sink.con.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def job_summary(sink: DuckDBSink, source: str) -> dict[str, Any] | None:
    found = _rows(sink, f"SELECT * FROM {sink.table('job_summary')} WHERE source = ?", [source])
    return found[0] if found else None


def jobs_with_slurm_id(sink: DuckDBSink, job_id: str) -> list[dict[str, Any]]:
    """Every job (any folder) with this Slurm job id, the latest analysis first."""
    return _rows(
        sink,
        f"SELECT * FROM {sink.table('job_summary')} WHERE job_id = ? AND status <> 'removed' "
        "ORDER BY analysed_at DESC, source",
        [job_id],
    )


def _samples(sink: DuckDBSink, table_name: str | None) -> list[dict[str, Any]]:
    if not table_name or not is_valid_table_name(table_name):
        return []
    samples, params = sink.job_samples(table_name)
    span = sink.con.execute(f"SELECT min(epoch_s), max(epoch_s) FROM {samples}", params).fetchone()
    if span is None or span[0] is None:
        return []
    width = max(1, -(-(span[1] - span[0]) // REPORT_POINTS))
    return _rows(
        sink,
        f"""SELECT step, node, min(epoch_s) AS epoch_s, avg(power_w) AS power_w,
                   avg(price_eur_per_mwh) AS price_eur_per_mwh
            FROM {samples} GROUP BY step, node, (epoch_s - ?) // ?
            ORDER BY node, epoch_s, step""",
        [*params, span[0], width],
    )


def job_report(sink: DuckDBSink, source: str, *, footer: str = "") -> JobReport | None:
    """Everything the report page shows for the job `source`, or None when it is unknown."""
    summary = job_summary(sink, source)
    if summary is None:
        return None
    breakdown = _rows(
        sink,
        f"SELECT * FROM {sink.table('job_step_node')} WHERE source = ? AND level IN "
        "('step', 'node')",
        [source],
    )
    files = _rows(
        sink,
        f"SELECT * FROM {sink.table('job_files')} WHERE job_source = ? ORDER BY file_name",
        [source],
    )
    job = summary.get("job_id")
    return JobReport(
        title=f"Slurm job {job}" if job else f"Profile {source.rsplit('/', 1)[-1]}",
        summary=summary,
        steps=[r for r in breakdown if r["level"] == "step"],
        nodes=[r for r in breakdown if r["level"] == "node"],
        files=files,
        samples=_samples(sink, summary.get("table_name")),
        footer=footer,
    )
