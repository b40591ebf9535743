"""Plain SQL over `job_summary` (the analysis owns its schema): a benchmark's runs are the
caller's jobs with status `ok` and that `benchmark`. Columns follow
analysis_module/pipeline_core/schema.py; this package never imports it.

SQL text is assembled only from this module's constant column names and the `SORTS` and
`STATS` tables below; every value is a bound parameter. Hence the file-wide S608 exemption.
"""
# ruff: noqa: S608

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

RUN_COLUMNS = (
    "source",
    "job_id",
    "start_time",
    "n_nodes",
    "n_steps",
    "energy_j",
    "time_to_solution_s",
    "edp_js",
    "avg_power_w",
    "cost_eur",
    "co2_g",
    "work_source",
    "work_group",
    "work_unit",
    "work_value",
    "gflops",
    "gflop",
    "mem_bandwidth_gbytes_per_s",
    "energy_per_gflop_j",
    "gflops_per_w",
    "eur_per_gflop",
    "work_note",
)
# Figures compared across runs, and which end is best.
STATS = {
    "energy_j": "ASC",
    "time_to_solution_s": "ASC",
    "edp_js": "ASC",
    "gflops_per_w": "DESC",
    "energy_per_gflop_j": "ASC",
}
# Sortable columns, each with the direction a plain `sort=` uses (best or newest first).
SORTS = {
    "energy_j": "ASC",
    "time_to_solution_s": "ASC",
    "edp_js": "ASC",
    "gflops_per_w": "DESC",
    "start_time": "DESC",
}
FLOAT_COLUMNS = frozenset(
    {
        "energy_j",
        "time_to_solution_s",
        "edp_js",
        "avg_power_w",
        "cost_eur",
        "co2_g",
        "work_value",
        "gflops",
        "gflop",
        "mem_bandwidth_gbytes_per_s",
        "energy_per_gflop_j",
        "gflops_per_w",
        "eur_per_gflop",
    }
)


def _finite(column: str) -> str:
    """NaN and infinities (valid in PostgreSQL, not in JSON, no use as a best) read as null."""
    if column not in FLOAT_COLUMNS:
        return column
    return (
        f"CASE WHEN {column} IN ('NaN', 'Infinity', '-Infinity') THEN NULL "
        f"ELSE {column} END AS {column}"
    )


_RUNS = f"""
    SELECT benchmark, {", ".join(_finite(c) for c in RUN_COLUMNS)}
    FROM job_summary
    WHERE owner = :owner AND status = 'ok' AND benchmark IS NOT NULL
"""


def _stat_sql(column: str, direction: str) -> str:
    best = "MIN" if direction == "ASC" else "MAX"
    # The best run: first by the figure, then the earliest, then by source (deterministic).
    return f"""
        {best}({column}) AS {column}_best,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY {column}) AS {column}_median,
        COUNT({column}) AS {column}_count,
        (array_agg(source ORDER BY {column} {direction}, start_time, source)
            FILTER (WHERE {column} IS NOT NULL))[1] AS {column}_best_source"""


def benchmarks(session: Session, owner: str) -> list[dict[str, Any]]:
    """One row per benchmark of `owner`: runs, last start and per figure best, median, count
    and the best run's source. Aggregates skip nulls; every run counts in `runs`."""
    stats = ",".join(_stat_sql(column, direction) for column, direction in STATS.items())
    sql = f"""SELECT benchmark, COUNT(*) AS runs, MAX(start_time) AS last_run, {stats}
        FROM ({_RUNS}) AS runs GROUP BY benchmark ORDER BY benchmark"""
    return [dict(row) for row in session.execute(text(sql), {"owner": owner}).mappings()]


def runs(
    session: Session, owner: str, benchmark: str, sort: str, order: str, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of the benchmark's runs, sorted (nulls last, ties by source), and the total."""
    if sort not in SORTS or order not in ("ASC", "DESC"):
        raise ValueError("refusing an unexpected sort column or order")
    params = {"owner": owner, "benchmark": benchmark, "limit": limit, "offset": offset}
    rows = [
        dict(row)
        for row in session.execute(
            text(
                f"""SELECT *, COUNT(*) OVER () AS total FROM ({_RUNS}) AS runs
                WHERE benchmark = :benchmark
                ORDER BY {sort} {order} NULLS LAST, source
                LIMIT :limit OFFSET :offset"""
            ),
            params,
        ).mappings()
    ]
    if rows:
        return rows, rows[0]["total"]
    # Past the last page (or no such benchmark): the window count saw no rows.
    total = session.execute(
        text(f"SELECT COUNT(*) FROM ({_RUNS}) AS runs WHERE benchmark = :benchmark"), params
    ).scalar_one()
    return rows, total
