"""Time-varying price and carbon intensity applied to interval energies .

Definitions: docs/energy-metrics.md section 5.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis_module.pipeline_core.factors import (
    JOULES_PER_KWH,
    JOULES_PER_MWH,
    PiecewiseConstant,
    apply_factor,
    flat_tariff,
    merge_factors,
    parse_factor_csv_columns,
    parse_smard_block,
    parse_smard_index,
    smard_blocks_needed,
)

KWH_J = 3.6e6
T0 = 1_795_897_800  # 2026-11-28T20:30:00Z, a quarter-hour boundary
H = 3600


def price(starts, values, last_end_s, unit="EUR/MWh"):
    return PiecewiseConstant.from_starts(
        np.array(starts),
        np.array(values, dtype=float),
        last_end_s=last_end_s,
        unit=unit,
        source="test prices",
    )


def cost(a, b, e, factor, jpu=JOULES_PER_MWH):
    return apply_factor(
        np.array(a), np.array(b), np.array(e, dtype=float), factor, joules_per_unit=jpu
    )


def test_one_kwh_at_100_eur_per_mwh_costs_ten_cents():
    factor = PiecewiseConstant.constant(100.0, unit="EUR/MWh", source="flat")
    assert cost([T0], [T0 + H], [KWH_J], factor).total == pytest.approx(0.10)
    assert JOULES_PER_MWH == 1000 * JOULES_PER_KWH


def test_one_kwh_at_400_g_per_kwh_emits_400_g():
    factor = PiecewiseConstant.constant(400.0, unit="g/kWh", source="grid mix")
    assert cost([T0], [T0 + H], [KWH_J], factor, JOULES_PER_KWH).total == pytest.approx(400.0)


def test_flat_tariff_in_eur_per_kwh():
    factor = flat_tariff(0.30, source="contract")
    assert cost([T0], [T0 + 60], [KWH_J], factor).total == pytest.approx(0.30)


def test_a_wrong_energy_unit_is_refused():
    factor = PiecewiseConstant.constant(100.0, unit="EUR/MWh", source="flat")
    with pytest.raises(ValueError, match="joules_per_unit"):
        cost([T0], [T0 + H], [KWH_J], factor, JOULES_PER_KWH)


def test_interval_crossing_a_price_boundary_is_split_in_proportion_to_time():
    factor = price([T0, T0 + 900], [100.0, 300.0], T0 + 1800)
    # 1 kWh over 600 s: 450 s at 100, 150 s at 300 -> mean 150 EUR/MWh -> 0.15 EUR
    result = cost([T0 + 450], [T0 + 1050], [KWH_J], factor)
    assert result.total == pytest.approx(0.15)
    assert result.per_interval.tolist() == pytest.approx([0.15])
    assert result.uncovered_s == 0.0 and result.reason is None


def test_negative_prices_give_negative_cost():
    factor = price([T0, T0 + 900], [-50.0, 20.0], T0 + 1800)
    result = cost([T0, T0 + 900], [T0 + 900, T0 + 1800], [2 * KWH_J, KWH_J], factor)
    assert result.per_interval.tolist() == pytest.approx([-0.10, 0.02])
    assert result.total == pytest.approx(-0.08)


def test_uncovered_interval_gives_no_total_and_says_when():
    factor = price([T0, T0 + 900], [100.0, np.nan], T0 + 1800)  # SMARD's trailing null
    result = cost([T0, T0 + 600], [T0 + 600, T0 + 1200], [KWH_J, KWH_J], factor)
    assert result.total is None
    assert result.uncovered_s == 300.0
    assert result.per_interval[0] == pytest.approx(0.10)
    assert np.isnan(result.per_interval[1])
    assert "no price (EUR/MWh) from test prices" in result.reason
    assert "2026-11-28T20:40:00Z..2026-11-28T20:50:00Z" in result.reason


def test_time_after_the_last_price_is_uncovered_but_an_empty_interval_does_not_matter():
    factor = price([T0], [100.0], T0 + 900)
    result = cost([T0, T0 + 900], [T0 + 900, T0 + 1000], [KWH_J, 0.0], factor)
    assert result.total == pytest.approx(0.10)
    assert np.isnan(result.per_interval[1])
    assert result.uncovered_s == 0.0


def test_zero_length_interval_uses_the_value_at_its_start():
    factor = price([T0, T0 + 900], [100.0, 300.0], T0 + 1800)
    assert cost([T0 + 900], [T0 + 900], [KWH_J], factor).total == pytest.approx(0.30)


def test_no_intervals_cost_nothing():
    factor = price([T0], [100.0], T0 + 900)
    assert cost([], [], [], factor).total == 0.0


@st.composite
def prices_and_intervals(draw):
    n_prices = draw(st.integers(1, 8))
    steps = draw(st.lists(st.integers(1, 50), min_size=n_prices, max_size=n_prices))
    starts = T0 + np.concatenate(([0], np.cumsum(steps)))
    values = draw(st.lists(st.floats(-500, 500), min_size=n_prices, max_size=n_prices))
    span = int(starts[-1] - starts[0])
    cuts = sorted(draw(st.lists(st.integers(0, span), min_size=2, max_size=12, unique=True)))
    energy = draw(st.lists(st.floats(0, 1e7), min_size=len(cuts) - 1, max_size=len(cuts) - 1))
    return starts, np.array(values), T0 + np.array(cuts), np.array(energy)


@settings(deadline=None)
@given(prices_and_intervals())
def test_cost_equals_a_second_by_second_sum(case):
    starts, values, cuts, energy = case
    factor = PiecewiseConstant.from_starts(
        starts[:-1], values, last_end_s=int(starts[-1]), unit="EUR/MWh", source="p"
    )
    result = cost(cuts[:-1], cuts[1:], energy, factor)
    seconds = np.arange(cuts[0], cuts[-1])
    price_per_s = values[np.searchsorted(starts, seconds, side="right") - 1]
    interval_of_s = np.searchsorted(cuts, seconds, side="right") - 1
    mean_price = np.bincount(interval_of_s, price_per_s) / np.diff(cuts)
    expected = energy / JOULES_PER_MWH * mean_price
    np.testing.assert_allclose(result.per_interval, expected, rtol=1e-9, atol=1e-12)
    assert result.total == pytest.approx(expected.sum(), rel=1e-9, abs=1e-12)


@settings(deadline=None)
@given(prices_and_intervals(), st.data())
def test_splitting_a_price_interval_in_two_halves_changes_nothing(case, data):
    starts, values, cuts, energy = case
    k = data.draw(st.integers(0, len(values) - 1))
    before = PiecewiseConstant(starts[:-1], starts[1:], values, "EUR/MWh", "p")
    mid = (starts[k] + starts[k + 1]) // 2
    if mid == starts[k]:
        return  # a 1-s price interval cannot be halved on whole seconds
    split_starts = np.insert(starts[:-1], k + 1, mid)
    split_ends = np.insert(starts[1:], k, mid)
    after = PiecewiseConstant(
        split_starts, split_ends, np.insert(values, k, values[k]), "EUR/MWh", "p"
    )
    a, b = cost(cuts[:-1], cuts[1:], energy, before), cost(cuts[:-1], cuts[1:], energy, after)
    np.testing.assert_allclose(a.per_interval, b.per_interval, rtol=1e-9, atol=1e-12)


def test_constant_factor_keeps_precision_at_epoch_scale():
    factor = PiecewiseConstant.constant(123.456, unit="EUR/MWh", source="flat")
    result = cost([T0 + 1], [T0 + 2], [JOULES_PER_MWH], factor)
    assert result.total == pytest.approx(123.456, rel=1e-12)


def test_smard_block_with_trailing_nulls():
    block = {
        "series": [
            [T0 * 1000, 80.5],
            [(T0 + 900) * 1000, -3.2],
            [(T0 + 1800) * 1000, None],
            [(T0 + 2700) * 1000, None],
        ]
    }
    factor = parse_smard_block(block, resolution="quarterhour")
    assert factor.start_s.tolist() == [T0, T0 + 900, T0 + 1800, T0 + 2700]
    assert factor.end_s.tolist() == [T0 + 900, T0 + 1800, T0 + 2700, T0 + 3600]
    assert factor.value[:2].tolist() == [80.5, -3.2]
    assert np.isnan(factor.value[2:]).all()
    assert factor.unit == "EUR/MWh" and "Bundesnetzagentur | SMARD.de" in factor.source
    assert cost([T0], [T0 + 1800], [KWH_J], factor).total == pytest.approx((80.5 - 3.2) / 2 / 1000)
    assert cost([T0], [T0 + 2000], [KWH_J], factor).total is None


def test_smard_hourly_block_and_unknown_resolution():
    factor = parse_smard_block({"series": [[T0 * 1000, 10.0]]}, resolution="hour")
    assert factor.end_s.tolist() == [T0 + H]
    with pytest.raises(ValueError, match="resolution"):
        parse_smard_block({"series": [[T0 * 1000, 10.0]]}, resolution="month")


def test_smard_block_selection_covers_the_job():
    week_ms = 7 * 86400 * 1000
    index = parse_smard_index({"timestamps": [3 * week_ms, week_ms, 2 * week_ms]})
    assert index.tolist() == [week_ms, 2 * week_ms, 3 * week_ms]
    week_s = week_ms // 1000
    assert smard_blocks_needed(index, week_s + 10, week_s + 20) == [week_ms]
    assert smard_blocks_needed(index, 2 * week_s - 1, 2 * week_s) == [week_ms, 2 * week_ms]
    assert smard_blocks_needed(index, 5 * week_s, 6 * week_s) == [3 * week_ms]  # current block
    assert smard_blocks_needed(index, 0, 10) == []


def test_merge_later_blocks_win_but_nulls_never_erase_a_price():
    old = price([T0, T0 + 900], [10.0, 20.0], T0 + 1800)
    new = price([T0 + 900, T0 + 1800], [25.0, np.nan], T0 + 2700)
    later = price([T0 + 1800], [np.nan], T0 + 2700)
    merged = merge_factors([old, new])
    assert merged.start_s.tolist() == [T0, T0 + 900, T0 + 1800]
    assert merged.value[:2].tolist() == [10.0, 25.0]
    assert np.isnan(merged.value[2])
    filled = merge_factors([new, old, later])
    assert filled.value[1] == 20.0  # old, given later, wins where both know a value
    kept = merge_factors([old, price([T0 + 900], [np.nan], T0 + 1800)])
    assert kept.value.tolist() == [10.0, 20.0]  # a null block cannot erase a known price
    gap = merge_factors([price([T0], [1.0], T0 + 900), price([T0 + 1800], [2.0], T0 + 2700)])
    assert cost([T0], [T0 + 2700], [KWH_J], gap).uncovered_s == 900.0


def test_price_file_columns_with_offsets_z_and_naive_utc():
    starts = [
        "2026-01-01T00:00:00Z",
        "2026-01-01T02:00:00+01:00",
        "2026-01-01 02:00",
        "2026-01-01T03:00:00.000z",
    ]
    factor = parse_factor_csv_columns(starts, [50.0, 60.0, None, 70.0], unit="EUR/MWh", source="f")
    midnight = 1_767_225_600
    assert (factor.start_s - midnight).tolist() == [0, H, 2 * H, 3 * H]
    assert factor.end_s[-1] - midnight == 4 * H  # median step
    assert factor.value[:2].tolist() == [50.0, 60.0] and np.isnan(factor.value[2])


def test_price_file_columns_as_arrow_timestamps_and_epoch_seconds():
    ts = pa.array([0, 3600], type=pa.timestamp("ms", tz="UTC"))
    factor = parse_factor_csv_columns(ts, pa.array([1.0, 2.0]), unit="g/kWh", source="f")
    assert factor.start_s.tolist() == [0, 3] and factor.end_s.tolist() == [3, 6]
    epochs = parse_factor_csv_columns(
        np.array([T0, T0 + H]), [1.0, 2.0], unit="g/kWh", source="f", last_end_s=T0 + 3 * H
    )
    assert epochs.end_s.tolist() == [T0 + H, T0 + 3 * H]


def test_ambiguous_price_file_is_refused():
    with pytest.raises(ValueError, match="two factor values"):
        parse_factor_csv_columns(
            ["2026-01-01T00:00Z", "2026-01-01T01:00+01:00"], [1, 2], unit="EUR/MWh", source="f"
        )


def test_last_value_holds_for_the_median_step():
    factor = PiecewiseConstant.from_starts(
        np.array([T0 + 2700, T0, T0 + 900, T0 + 1800, T0 + 5400]),
        np.arange(5.0),
        unit="EUR/MWh",
        source="p",
    )
    assert factor.start_s.tolist() == [T0, T0 + 900, T0 + 1800, T0 + 2700, T0 + 5400]
    assert factor.value.tolist() == [1.0, 2.0, 3.0, 0.0, 4.0]  # sorted with their starts
    assert factor.end_s[-1] == T0 + 5400 + 900
