"""Runs of two benchmarks as job_summary rows, for the API, CLI and dashboard tests.

Benchmark `hpl` of `owner`: four analysed runs (a-d) plus rows that are not runs of it (a
failed analysis, a job without a benchmark, another user's run). `stream`: one run.

    run  start       nodes  energy_j  time_s  edp_js   gflop  gflops_per_w  energy_per_gflop_j
    a    03-01 10:00   1      1000     100    100000   2000      2.0            0.5
    b    03-02 10:00   2       800     120     96000   2400      3.0            1/3
    c    03-03 10:00   4      1200      80     96000      -       -              -
    d    03-04 10:00   1         -      90         -      -       -              -

Hand-computed over a-d (nulls left out): energy best 800 (b), median 1000; time best 80 (c),
median 95; EDP best 96000 (b: tied with c, earlier), median 96000; GFLOP/W best 3.0 (b),
median 2.5; J/GFLOP best 1/3 (b), median 5/12.
"""

from __future__ import annotations

from datetime import UTC, datetime

COLUMNS = (
    "source",
    "job_id",
    "owner",
    "status",
    "analysed_at",
    "benchmark",
    "start_time",
    "n_nodes",
    "n_steps",
    "energy_j",
    "energy_kwh",
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
    "energy_per_gflop_j",
    "gflops_per_w",
    "eur_per_gflop",
    "work_note",
)
# A note a spreadsheet would run as a formula, unless the CSV escapes it.
FORMULA_NOTE = '=HYPERLINK("http://example.invalid")'


def _at(day: int) -> datetime:
    return datetime(2026, 3, day, 10, 0, tzinfo=UTC)


def _row(owner: str, name: str, benchmark: str | None, day: int, **figures) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(
        source=f"s3://bench/{owner}/job_{name}",
        job_id=name,
        owner=owner,
        status="ok",
        analysed_at=_at(day),
        benchmark=benchmark,
        start_time=_at(day),
        n_steps=1,
    )
    row.update(figures)
    if row["energy_j"] is not None:
        row["energy_kwh"] = row["energy_j"] / 3.6e6
    return row


def runs(owner: str, other: str) -> list[dict]:
    likwid = {"work_source": "likwid", "work_group": "FLOPS_DP"}
    return [
        _row(owner, "a", "hpl", 1, n_nodes=1, energy_j=1000.0, time_to_solution_s=100.0,
             edp_js=100000.0, avg_power_w=10.0, cost_eur=0.1, co2_g=50.0, work_source="given",
             work_unit="GFLOP/s", work_value=20.0, gflops=20.0, gflop=2000.0,
             energy_per_gflop_j=0.5, gflops_per_w=2.0, eur_per_gflop=0.1 / 2000),
        _row(owner, "b", "hpl", 2, n_nodes=2, energy_j=800.0, time_to_solution_s=120.0,
             edp_js=96000.0, avg_power_w=800 / 120, cost_eur=0.08, co2_g=40.0, **likwid,
             gflops=20.0, gflop=2400.0, energy_per_gflop_j=1 / 3, gflops_per_w=3.0,
             eur_per_gflop=0.08 / 2400),
        _row(owner, "c", "hpl", 3, n_nodes=4, energy_j=1200.0, time_to_solution_s=80.0,
             edp_js=96000.0, avg_power_w=15.0, cost_eur=0.12, co2_g=60.0, work_note=FORMULA_NOTE),
        _row(owner, "d", "hpl", 4, n_nodes=1, time_to_solution_s=90.0,
             work_note="no energy: efficiency left null"),
        _row(owner, "failed", "hpl", 5, status="failed", energy_j=10.0),
        _row(owner, "unnamed", None, 5, energy_j=5.0, time_to_solution_s=5.0),
        _row(other, "theirs", "hpl", 5, n_nodes=1, energy_j=1.0, time_to_solution_s=1.0,
             edp_js=1.0),
        _row(owner, "s", "stream", 6, n_nodes=1, energy_j=500.0, time_to_solution_s=50.0,
             edp_js=25000.0),
    ]  # fmt: skip


def insert_sql(placeholder: str) -> str:
    """The INSERT for one row; `placeholder` is the driver's (`%s` for psycopg, `?` DuckDB)."""
    names = ", ".join(COLUMNS)
    values = ", ".join([placeholder] * len(COLUMNS))
    return f"INSERT INTO job_summary ({names}) VALUES ({values})"


def insert(connection, rows: list[dict], placeholder: str) -> None:
    sql = insert_sql(placeholder)
    for row in rows:
        connection.execute(sql, [row[name] for name in COLUMNS])
