"""Numbers from hostile values: impossible times are missing data, huge intervals are gaps."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from analysis_module.pipeline_core.epochs import drop_invalid_times, timestamp_or_none
from analysis_module.pipeline_core.integrate import integrate_power, sum_interval_energy

SENTINELS_AS_INT64 = [
    2**62,  # past year 9999
    np.uint64(2**63).astype(np.int64),  # arrives negative from the reader's int64 view
    -1,  # 2^64 - 1
    0,
    253_402_300_800,  # 10000-01-01
]


def test_rows_at_impossible_times_are_dropped_and_counted() -> None:
    table = pa.table({"epoch_s": pa.array([1_700_000_000, *SENTINELS_AS_INT64], pa.int64())})
    kept, dropped = drop_invalid_times(table)
    assert kept.column("epoch_s").to_pylist() == [1_700_000_000]
    assert dropped == len(SENTINELS_AS_INT64)


@pytest.mark.parametrize("epoch_s", [int(v) for v in SENTINELS_AS_INT64])
def test_an_impossible_time_is_no_timestamp(epoch_s: int) -> None:
    assert timestamp_or_none(epoch_s) is None  # never 1969-12-31, never an OSError


def test_a_real_time_is_a_utc_timestamp() -> None:
    assert timestamp_or_none(253_402_300_799) == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_three_samples_a_billion_seconds_apart_integrate_to_nothing() -> None:
    epochs = 1_700_000_000 + np.arange(3) * 10**9
    watts = np.full(3, 100.0)
    unbounded = integrate_power(epochs, watts)
    assert unbounded.energy_j == pytest.approx(2e11)  # what the relative rule alone gives
    bounded = integrate_power(epochs, watts, max_interval_s=3600)
    assert bounded.energy_j == 0.0
    assert bounded.integrated_s == 0.0
    assert bounded.n_gap_intervals == 2


def test_the_ceiling_keeps_ordinary_intervals() -> None:
    epochs = np.array([0, 10, 20, 5000, 5010])  # one 4980 s hole in a 10 s cadence
    result = integrate_power(epochs, np.full(5, 50.0), gap_factor=1000, max_interval_s=3600)
    assert result.energy_j == pytest.approx(50.0 * 30)
    assert result.n_gap_intervals == 1


def test_the_ceiling_applies_to_xcc_interval_energy() -> None:
    epochs = 1_700_000_000 + np.arange(3) * 10**9
    result = sum_interval_energy(epochs, np.full(3, 10.0), max_interval_s=3600)
    assert result.energy_j == 0.0
