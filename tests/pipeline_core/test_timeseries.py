"""Rows of a `job_<stem>` table (pipeline_core/timeseries.py), values worked out by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from analysis_module.pipeline_core.factors import PiecewiseConstant
from analysis_module.pipeline_core.figures import EnergyFigures, FactorOutcome
from analysis_module.pipeline_core.integrate import integrate_power
from analysis_module.pipeline_core.node_energy import PowerSeries
from analysis_module.pipeline_core.power import select_power_source
from analysis_module.pipeline_core.schema import JOB_TIMESERIES
from analysis_module.pipeline_core.tasks import TaskFigures, TaskSamples
from analysis_module.pipeline_core.timeseries import (
    TASK_COLUMNS,
    _Spread,
    _union,
    timeseries_table,
    values_at,
)

T0 = 1_790_000_000


def test_values_at_takes_the_interval_holding_each_time_and_nan_outside():
    factor = PiecewiseConstant.from_starts(
        np.array([0, 10]), np.array([5.0, 7.0]), last_end_s=20, unit="EUR/MWh", source="t"
    )
    got = values_at(factor, np.array([-1, 0, 9, 10, 19, 20]))
    assert np.array_equal(got, [np.nan, 5, 5, 7, 7, np.nan], equal_nan=True)
    assert np.isnan(values_at(None, np.array([0, 1]))).all()


def power(epochs=(0, 10, 20), watts=(100.0, 100.0, 300.0)):
    epoch = T0 + np.asarray(epochs, dtype=np.int64)
    series = PowerSeries(
        selection=select_power_source(["NodePower"]),
        epoch_s=epoch,
        elapsed_s=epoch - T0,
        watts=np.asarray(watts),
        interval_joules=None,
    )
    integration = integrate_power(series.epoch_s, series.watts)  # 1000 J, then 2000 J
    figures = EnergyFigures(
        energy_j=integration.energy_j,
        integrated_s=integration.integrated_s,
        gap_intervals=0,
        gap_samples=0,
        cost=FactorOutcome(0.003, None, np.array([0.001, 0.002])),
        co2=FactorOutcome(None, "no carbon intensity configured"),
    )
    return series, integration, figures


def tasks_at(epochs, elapsed):
    n = len(epochs)
    columns = {name: np.full(n, np.nan) for name in TASK_COLUMNS}
    columns["n_tasks_sampled"] = np.full(n, 2.0)
    columns["cpu_util_pct"] = np.arange(n, dtype=np.float64) * 10
    return TaskSamples(
        epoch_s=T0 + np.asarray(epochs, dtype=np.int64),
        elapsed_s=np.asarray(elapsed, dtype=np.int64),
        columns=columns,
        figures=TaskFigures(),
    )


def test_power_rows_carry_running_energy_cost_and_the_price_of_their_time():
    series, integration, figures = power()
    price = PiecewiseConstant.constant(3600.0, unit="EUR/MWh", source="flat")
    table = timeseries_table("0", "n1", series, integration, figures, price, None, None)
    assert table.schema == JOB_TIMESERIES
    rows = table.to_pylist()
    assert [r["epoch_s"] for r in rows] == [T0, T0 + 10, T0 + 20]
    assert rows[0]["time"] == datetime.fromtimestamp(T0, tz=UTC)
    assert {(r["step"], r["node"]) for r in rows} == {("0", "n1")}
    assert [r["elapsed_s"] for r in rows] == [0, 10, 20]
    assert [r["power_w"] for r in rows] == [100.0, 100.0, 300.0]
    assert [r["energy_j"] for r in rows] == [0.0, 1000.0, 3000.0]
    assert [r["cost_eur"] for r in rows] == pytest.approx([0.0, 0.001, 0.003])
    assert [r["price_eur_per_mwh"] for r in rows] == [3600.0] * 3
    # no carbon intensity: nulls, not zeros
    assert {r["co2_g"] for r in rows} == {None} and {r["carbon_g_per_kwh"] for r in rows} == {None}
    assert {r["cpu_util_pct"] for r in rows} == {None}


def test_power_and_tasks_join_on_every_epoch_of_either():
    series, integration, figures = power()
    tasks = tasks_at(epochs=(10, 30), elapsed=(11, 30))
    rows = timeseries_table("0", "n1", series, integration, figures, None, None, tasks).to_pylist()
    assert [r["epoch_s"] - T0 for r in rows] == [0, 10, 20, 30]
    assert [r["power_w"] for r in rows] == [100.0, 100.0, 300.0, None]
    assert [r["n_tasks_sampled"] for r in rows] == [None, 2, None, 2]
    assert [r["cpu_util_pct"] for r in rows] == [None, 0.0, None, 10.0]
    # Energy's clock wins where both sampled (10, not the tasks' 11); the tasks' fills the rest
    assert [r["elapsed_s"] for r in rows] == [0, 10, 20, 30]
    assert rows[3]["energy_j"] is None and rows[3]["cost_eur"] is None


def test_tasks_alone_give_rows_without_power():
    rows = timeseries_table(
        "batch", "n2", None, None, None, None, None, tasks_at((5, 6), (0, 1))
    ).to_pylist()
    assert [(r["epoch_s"] - T0, r["elapsed_s"], r["power_w"]) for r in rows] == [
        (5, 0, None),
        (6, 1, None),
    ]


def test_nothing_sampled_gives_no_table():
    empty = tasks_at((), ())
    assert timeseries_table("0", "n1", None, None, None, None, None, empty) is None
    assert timeseries_table("0", "n1", None, None, None, None, None, None) is None


def test_an_uncovered_interval_makes_the_running_cost_unknown_from_there():
    series, integration, figures = power()
    figures.cost = FactorOutcome(None, "price unknown", np.array([0.001, math.nan]))
    rows = timeseries_table("0", "n1", series, integration, figures, None, None, None).to_pylist()
    assert [r["cost_eur"] for r in rows] == [0.0, 0.001, None]


@pytest.mark.parametrize(
    ("power", "tasks"),
    [
        ([10, 11, 12, 13], [10, 11, 12, 13]),  # the usual: both sampled at the same seconds
        ([10, 11, 12, 13], [11, 12]),
        ([10, 12], [11, 13, 14]),
        ([10, 11], [20, 21]),
    ],
)
def test_rows_are_placed_as_a_search_of_the_union_places_them(power, tasks) -> None:
    power, tasks = np.array(power, np.int64), np.array(tasks, np.int64)
    union = _union([power, tasks])
    assert union.tobytes() == np.union1d(power, tasks).tobytes()
    for epochs in (power, tasks):
        values = np.arange(len(epochs), dtype=np.int64) * 3
        expected = np.full(len(union), np.nan)
        expected[np.searchsorted(union, epochs)] = values
        assert _Spread(union, epochs)(values).tobytes() == expected.tobytes()
