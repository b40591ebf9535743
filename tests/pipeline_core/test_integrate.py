"""Integration of power (and xcc interval energy) against signals whose integral is known."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis_module.pipeline_core.integrate import integrate_power, sum_interval_energy
from analysis_module.pipeline_core.power import NO_VAL, clean_power, dedupe_by_epoch

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "slurm"
T0 = 1_795_898_924  # the real samples' epoch range, so float precision is tested at scale
PATTERN_W = np.array([100.0, 250.0, 150.0])


def emulator_w(epoch_s: np.ndarray) -> np.ndarray:
    """The real samples' power: constant over each whole second [t, t+1)."""
    return PATTERN_W[(epoch_s // 5) % 3]


def ticks(draw_n: int, step_s: int, start: int = T0) -> np.ndarray:
    return start + step_s * np.arange(draw_n, dtype=np.int64)


@settings(deadline=None)
@given(
    power_w=st.floats(0, 5000),
    n=st.integers(2, 300),
    step_s=st.integers(1, 60),
    rule=st.sampled_from(["trapezoid", "left", "right"]),
)
def test_constant_power_is_exact_for_every_rule(power_w, n, step_s, rule):
    epochs = ticks(n, step_s)
    result = integrate_power(epochs, np.full(n, power_w), rule=rule)
    duration_s = (n - 1) * step_s
    assert result.energy_j == pytest.approx(power_w * duration_s, rel=1e-12, abs=1e-9)
    assert result.integrated_s == duration_s
    assert result.cumulative_energy_j[0] == 0.0
    assert result.cumulative_energy_j[-1] == pytest.approx(result.energy_j)


@settings(deadline=None)
@given(
    offset_w=st.floats(0, 1000),
    slope_w_per_s=st.floats(-1, 1),
    n=st.integers(2, 300),
    step_s=st.integers(1, 30),
)
def test_linear_ramp_is_exact_with_trapezoid(offset_w, slope_w_per_s, n, step_s):
    epochs = ticks(n, step_s)
    t = (epochs - T0).astype(float)
    result = integrate_power(epochs, offset_w + slope_w_per_s * t)
    end = t[-1]
    exact = offset_w * end + 0.5 * slope_w_per_s * end**2
    assert result.energy_j == pytest.approx(exact, rel=1e-9, abs=1e-6)


@settings(deadline=None)
@given(
    mean_w=st.floats(200, 1000),
    amplitude_w=st.floats(0, 199),
    periods=st.integers(1, 5),
    samples_per_period=st.integers(200, 400),
)
def test_sine_over_whole_periods_integrates_to_the_mean(
    mean_w, amplitude_w, periods, samples_per_period
):
    period_s = samples_per_period  # 1-s sampling
    epochs = ticks(periods * samples_per_period + 1, 1)
    t = (epochs - T0).astype(float)
    watts = mean_w + amplitude_w * np.sin(2 * np.pi * t / period_s)
    result = integrate_power(epochs, watts)
    assert result.energy_j == pytest.approx(mean_w * periods * period_s, rel=1e-9)


@settings(deadline=None)
@given(
    levels_w=st.lists(st.floats(0, 3000), min_size=2, max_size=120),
    start=st.integers(1_600_000_000, 1_900_000_000),
)
def test_left_rule_is_exact_for_power_held_over_each_second(levels_w, start):
    epochs = ticks(len(levels_w), 1, start)
    watts = np.array(levels_w)
    true_j = float(np.sum(watts[:-1]))  # power levels_w[k] over [t_k, t_k + 1)
    assert integrate_power(epochs, watts, rule="left").energy_j == pytest.approx(true_j)


def test_emulator_batch_step_left_rule_gives_the_true_3150_j():
    epochs = np.arange(1_795_898_924, 1_795_898_946, dtype=np.int64)
    watts = emulator_w(epochs)
    assert integrate_power(epochs, watts, rule="left").energy_j == 3150.0
    assert integrate_power(epochs, watts, rule="trapezoid").energy_j == 3200.0
    assert integrate_power(epochs, watts, rule="right").energy_j == 3250.0


def read_energy_csv(name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """sh5util's Node:TimeSeries CSV, per step, duplicates as written by Slurm."""
    steps: dict[str, list[tuple[int, float]]] = {}
    with (SAMPLES / name).open() as fh:
        for row in csv.DictReader(fh):
            steps.setdefault(row["Step"], []).append((int(row["EpochTime"]), float(row["Power"])))
    return {s: (np.array([e for e, _ in r]), np.array([w for _, w in r])) for s, r in steps.items()}


def test_real_job_5_steps_and_job_total_match_the_true_energies():
    steps = read_energy_csv("job_5_E_Energy_NodeTimeSeries.csv")
    per_step = {}
    for step, (epochs, watts) in steps.items():
        epoch_u, watts_u = dedupe_by_epoch(epochs, watts)
        per_step[step] = integrate_power(epoch_u, watts_u, rule="left").energy_j
    assert per_step == {"0": 1900.0, "1": 1250.0, "batch": 3150.0}
    merged = [np.concatenate(parts) for parts in zip(*steps.values(), strict=True)]
    epoch_u, watts_u = dedupe_by_epoch(*merged)
    job = integrate_power(epoch_u, watts_u, rule="left")
    assert job.energy_j == 3150.0  # the node's energy, not 6300 J summed over steps
    assert job.integrated_s == 21.0


def test_real_job_4_matches_2500_j():
    ((epochs, watts),) = read_energy_csv("job_4_E_Energy_NodeTimeSeries.csv").values()
    epoch_u, watts_u = dedupe_by_epoch(epochs, watts)
    assert (epoch_u[0], epoch_u[-1]) == (1_795_898_905, 1_795_898_920)
    assert integrate_power(epoch_u, watts_u, rule="left").energy_j == 2500.0


def test_an_interval_longer_than_three_medians_is_a_gap():
    epochs = np.array([0, 1, 2, 3, 13, 14, 15], dtype=np.int64) + T0
    result = integrate_power(epochs, np.full(7, 100.0))
    assert result.n_gap_intervals == 1
    assert result.integrated_s == 5.0
    assert result.energy_j == 500.0
    assert result.interval_energy_j[3] == 0.0
    assert result.integrated_s / (epochs[-1] - epochs[0]) == pytest.approx(5 / 15)


def test_gap_factor_and_given_median_are_respected():
    epochs = np.array([0, 1, 2, 3, 6], dtype=np.int64)
    assert integrate_power(epochs, np.full(5, 10.0)).energy_j == 60.0  # 3 s = 3 x median: kept
    assert integrate_power(epochs, np.full(5, 10.0), gap_factor=2.0).energy_j == 30.0
    # a node's usual cadence passed in (2 s) makes the 3-s interval normal again
    assert (
        integrate_power(epochs, np.full(5, 10.0), gap_factor=2.0, median_interval_s=2.0).energy_j
        == 60.0
    )
    assert integrate_power(epochs, np.full(5, 10.0), median_interval_s=0.3).energy_j == 0.0


@pytest.mark.parametrize(
    ("rule", "energy_j", "n_missing"),
    [("trapezoid", 20.0, 2), ("left", 30.0, 1), ("right", 30.0, 1)],
)
def test_nan_endpoints_skip_only_the_intervals_the_rule_needs(rule, energy_j, n_missing):
    epochs = np.arange(5, dtype=np.int64)
    watts = np.array([10.0, 10.0, np.nan, 10.0, 10.0])
    result = integrate_power(epochs, watts, rule=rule)
    assert result.energy_j == energy_j
    assert result.n_missing_intervals == n_missing
    assert result.integrated_s == energy_j / 10.0


def test_sentinels_become_gaps_not_watts():
    raw = np.array([100, NO_VAL, 100, 100], dtype=np.uint64)
    cleaned = clean_power(raw, ceiling_w=None)
    result = integrate_power(np.arange(4, dtype=np.int64), cleaned.watts)
    assert result.energy_j == 100.0  # only [2, 3]: both trapezoid ends known


def test_fewer_than_two_samples_integrate_to_nothing():
    for n in (0, 1):
        result = integrate_power(np.arange(n, dtype=np.int64), np.full(n, 5.0))
        assert (result.energy_j, result.integrated_s) == (0.0, 0.0)
        assert result.cumulative_energy_j.tolist() == [0.0] * n


def test_unsorted_or_repeated_epochs_are_refused():
    with pytest.raises(ValueError, match="sorted and unique"):
        integrate_power(np.array([0, 0, 1]), np.ones(3))
    with pytest.raises(ValueError, match="unknown integration rule"):
        integrate_power(np.array([0, 1]), np.ones(2), rule="simpson")


def test_xcc_energy_is_summed_and_the_first_sample_dropped():
    epochs = np.array([10, 11, 12, 13, 20, 21], dtype=np.int64)
    joules = np.array([999, 100, NO_VAL, 120, 700, 90], dtype=np.uint64)
    result = sum_interval_energy(epochs, joules)
    # 999 J before the series start: dropped; NO_VAL: missing; 13..20 is a gap (7 s > 3 x 1 s)
    assert result.energy_j == 310.0
    assert result.interval_energy_j.tolist() == [100.0, 0.0, 120.0, 0.0, 90.0]
    assert (result.n_sentinel, result.n_missing_intervals, result.n_gap_intervals) == (1, 1, 1)
    assert result.integrated_s == 3.0


def test_xcc_joules_above_the_power_ceiling_are_implausible():
    epochs = np.array([0, 1, 2, 3], dtype=np.int64)
    result = sum_interval_energy(epochs, np.array([0.0, 500.0, 5000.0, 400.0]), ceiling_w=1000.0)
    assert result.energy_j == 900.0
    assert result.n_implausible == 1
