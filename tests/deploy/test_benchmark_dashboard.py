"""The benchmark dashboard's variables and panels, run as Grafana sends them (`grafana_sql`)
against a migrated PostgreSQL holding SQL-inserted runs (tests/support/benchmark_runs.py), as
a role with only the grants of deploy/grafana/grafana-reader.sql."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.deploy import grafana_sql
from tests.deploy.test_dashboards import (
    DASHBOARDS,
    Results,
    _check_shape,
    _render,
    _targets,
    _variables,
    results_as_reader,
)
from tests.support.benchmark_runs import insert, runs

ME, YOU = "user-me", "user-you"
DASHBOARD = DASHBOARDS["benchmark"]
SPAN = grafana_sql.TimeRange(datetime(2026, 2, 28, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC))
KWH = 3.6e6


@pytest.fixture(scope="module")
def results():
    def fill(db) -> None:
        with db.connect() as conn:
            insert(conn, runs(ME, YOU), "%s")

    with results_as_reader("bs_grafana_bench", fill) as found:
        yield found


def _panel(results: Results, title: str, owners: list[str], benchmark: str = "hpl"):
    panel, target = next((p, t) for p, t in _targets(DASHBOARD) if p["title"] == title)
    values = {"owner": owners, "benchmark": benchmark}
    columns, rows = results.query(_render(target["rawSql"], DASHBOARD, values, "1h", SPAN))
    _check_shape(panel, target, columns, rows)
    return columns, rows


def test_benchmark_variable_lists_the_users_benchmarks(results):
    query = _variables(DASHBOARD)["benchmark"]["query"]
    for owners, expected in (([ME], ["hpl", "stream"]), ([YOU], ["hpl"])):
        _, rows = results.query(_render(query, DASHBOARD, {"owner": owners}, "1h", SPAN))
        assert [row[0] for row in rows] == expected


def test_energy_per_run_over_time(results):
    columns, rows = _panel(results, "Energy per run", [ME])
    assert columns == ["time", "metric", "value"]
    # a, b, c; d has no energy, the failed and unnamed jobs are not runs
    assert [(row[0].day, row[1], row[2] * KWH) for row in rows] == [
        (1, ME, pytest.approx(1000.0)),
        (2, ME, pytest.approx(800.0)),
        (3, ME, pytest.approx(1200.0)),
    ]
    _, everyone = _panel(results, "Energy per run", [ME, YOU])
    assert sorted({row[1] for row in everyone}) == [ME, YOU] and len(everyone) == 4


def test_energy_against_time_to_solution(results):
    columns, rows = _panel(results, "Energy against time to solution", [ME])
    assert columns[:2] == ["time_to_solution_s", "energy_kwh"]  # x, then y
    assert [(row[0], round(row[1] * KWH, 6), row[2]) for row in rows] == [
        (100.0, 1000.0, "a"),
        (120.0, 800.0, "b"),
        (80.0, 1200.0, "c"),
    ]


def test_gflops_per_watt_per_run(results):
    columns, rows = _panel(results, "GFLOP/W per run", [ME])
    assert columns == ["run", "gflops_per_w"]
    assert rows == [("job a 2026-03-01 10:00", 2.0), ("job b 2026-03-02 10:00", 3.0)]


def test_runs_table(results):
    columns, rows = _panel(results, "Runs", [ME])
    table = [dict(zip(columns, row, strict=True)) for row in rows]
    assert [run["job_id"] for run in table] == ["d", "c", "b", "a"]  # newest first
    b = table[2]
    assert (b["nodes"], b["edp_js"], b["gflops_per_w"], b["work_source"]) == (
        2,
        96000.0,
        3.0,
        "likwid",
    )
    assert b["energy_per_gflop_j"] == pytest.approx(1 / 3) and b["cost_eur"] == 0.08
    _, stream = _panel(results, "Runs", [ME], benchmark="stream")
    assert [row[columns.index("job_id")] for row in stream] == ["s"]


def test_every_panel_follows_the_time_range(results):
    before = grafana_sql.TimeRange(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    )
    for panel, target in _targets(DASHBOARD):
        values = {"owner": [ME], "benchmark": "hpl"}
        sql = _render(target["rawSql"], DASHBOARD, values, "1h", before)
        assert results.query(sql)[1] == [], panel["title"]
