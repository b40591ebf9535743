"""Figures of one series and their combination into a row (pipeline_core/figures.py).

The numbers are worked out by hand: 100 W for 10 s then 100 -> 300 W for 10 s is 1000 J and
2000 J with the trapezoid rule; at 3600 EUR/MWh (1 EUR per 10^6 J) that costs 0.001 and 0.002 EUR.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis_module.pipeline_core.factors import PiecewiseConstant
from analysis_module.pipeline_core.figures import (
    NO_VALID_POWER,
    EnergyFigures,
    FactorOutcome,
    apply_optional_factor,
    metrics_row,
)
from analysis_module.pipeline_core.integrate import integrate_power
from analysis_module.pipeline_core.node_energy import PowerSeries
from analysis_module.pipeline_core.power import select_power_source
from analysis_module.pipeline_core.tasks import TaskFigures
from analysis_module.pipeline_core.units import JOULES_PER_MWH

T0 = 1_790_000_000  # 2026-09-21, any real time


def series(watts, epochs=(0, 10, 20), fields=("NodePower",)) -> PowerSeries:
    epoch = T0 + np.asarray(epochs, dtype=np.int64)
    return PowerSeries(
        selection=select_power_source(list(fields)),
        epoch_s=epoch,
        elapsed_s=epoch - T0,
        watts=np.asarray(watts, dtype=np.float64),
        interval_joules=None,
    )


def figures(energy_j, integrated_s, first, last, *, cost=None, co2=None, **extra):
    return EnergyFigures(
        energy_j=energy_j,
        integrated_s=integrated_s,
        gap_intervals=extra.pop("gap_intervals", 0),
        gap_samples=extra.pop("gap_samples", 0),
        cost=FactorOutcome(cost, None if cost is not None else "no price configured"),
        co2=FactorOutcome(co2, None if co2 is not None else "no carbon intensity configured"),
        first_epoch=T0 + first,
        last_epoch=T0 + last,
        **extra,
    )


def test_a_factor_prices_each_interval_and_their_sum():
    integration = integrate_power(series([100, 100, 300]).epoch_s, np.array([100, 100, 300.0]))
    price = PiecewiseConstant.constant(3600.0, unit="EUR/MWh", source="flat")
    outcome = apply_optional_factor(
        integration, price, joules_per_unit=JOULES_PER_MWH, missing_note="no price"
    )
    assert outcome.per_interval.tolist() == pytest.approx([0.001, 0.002])
    assert outcome.total == pytest.approx(0.003)
    assert outcome.note is None


def test_no_factor_is_a_null_with_the_given_note():
    integration = integrate_power(series([100, 100, 300]).epoch_s, np.array([100, 100, 300.0]))
    outcome = apply_optional_factor(
        integration, None, joules_per_unit=JOULES_PER_MWH, missing_note="no price configured"
    )
    assert (outcome.total, outcome.note, outcome.per_interval) == (
        None,
        "no price configured",
        None,
    )


def two_nodes_row(*, pue=1.5, cost_b=0.001):
    a = figures(3000.0, 20, 0, 20, cost=0.003, co2=1.0, gap_samples=1, components_j={"CPU": 500.0})
    b = figures(
        1000.0,
        10,
        5,
        15,
        cost=cost_b,
        co2=0.5,
        gap_intervals=2,
        components_j={"CPU": 100.0, "GPU0": 50.0},
    )
    return metrics_row(
        [a, b],
        [series([100, 100, 300]), series([50, 60, 10])],
        TaskFigures(cpu_time_s=30.0, task_wall_s=60.0, max_rss_mib=12.0, read_mib=3.0),
        n_nodes=2,
        n_steps=1,
        n_tasks=4,
        pue=pue,
        other_spans=[(T0, T0 + 40)],  # a Filesystem series outlasts the power samples
    )


def test_two_nodes_add_up_over_the_span_of_every_series():
    row = two_nodes_row()
    assert (row["start_time"], row["end_time"], row["time_to_solution_s"]) == (T0, T0 + 40, 40.0)
    assert row["energy_j"] == 4000.0
    assert row["energy_kwh"] == pytest.approx(4000 / 3.6e6)
    assert row["avg_power_w"] == 100.0  # 4000 J over 40 s
    assert row["edp_js"] == 160_000.0
    assert row["coverage"] == pytest.approx(30 / (2 * 40))  # 30 node-seconds of 80
    assert row["facility_energy_j"] == 6000.0
    assert (row["gap_samples"], row["gap_intervals"]) == (1, 2)
    assert json.loads(row["component_energy_json"]) == {"CPU": 600.0, "GPU0": 50.0}
    assert row["cost_eur"] == pytest.approx(0.004) and row["cost_note"] is None
    assert row["co2_g"] == pytest.approx(1.5) and row["co2_note"] is None
    # the nodes' summed power: 150, 160 and 310 W at the three common times
    assert (row["peak_power_w"], row["peak_power_epoch"]) == (310.0, T0 + 20)
    assert (row["power_source"], row["energy_scope"]) == ("NodePower", "node")
    assert (row["n_nodes"], row["n_steps"], row["n_tasks"], row["has_energy"]) == (2, 1, 4, True)
    assert (row["cpu_time_s"], row["mean_cpu_util_pct"], row["max_rss_mib"]) == (30.0, 50.0, 12.0)


def test_one_node_without_a_price_makes_the_sum_unknown_with_its_reason():
    row = two_nodes_row(pue=None, cost_b=None)
    assert row["cost_eur"] is None and row["cost_note"] == "no price configured"
    assert row["co2_g"] == pytest.approx(1.5)
    assert row["facility_energy_j"] is None


def test_no_energy_series_leaves_energy_unknown_and_times_from_the_tasks():
    tasks = TaskFigures(cpu_time_s=5.0, task_wall_s=10.0, first_epoch=T0, last_epoch=T0 + 10)
    row = metrics_row([], [], tasks, n_nodes=1, n_steps=1, n_tasks=1, pue=None)
    assert row["has_energy"] is False
    assert row["time_to_solution_s"] == 10.0
    assert row["energy_j"] is None and row["coverage"] is None
    assert row["cost_note"] == row["co2_note"] == "no energy recorded"
    assert row["peak_power_w"] is None and row["power_source"] is None
    assert row["mean_cpu_util_pct"] == 50.0


def test_series_without_one_valid_interval_are_unknown_not_zero():
    empty = figures(0.0, 0, 0, 30, gap_samples=4, gap_intervals=3)
    row = metrics_row([empty], [], None, n_nodes=1, n_steps=1, n_tasks=0, pue=None)
    assert row["energy_j"] is None
    assert row["cost_note"] == NO_VALID_POWER
    assert (row["gap_samples"], row["gap_intervals"], row["coverage"]) == (4, 3, 0.0)
    assert row["cpu_time_s"] is None and row["task_sentinel_values"] is None


def test_a_node_without_energy_lowers_the_coverage():
    alone = figures(1000.0, 10, 0, 10)
    row = metrics_row([alone], [], None, n_nodes=4, n_steps=1, n_tasks=4, pue=None)
    assert row["coverage"] == pytest.approx(10 / (4 * 10))
