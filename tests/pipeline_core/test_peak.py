"""Peak power: the largest sum of node powers at one moment."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from analysis_module.pipeline_core.peak import peak_power

T0 = 1_795_898_924


def series(epochs, watts):
    return np.array(epochs, dtype=np.int64) + T0, np.array(watts, dtype=float)


def test_aligned_nodes_sum_at_common_times():
    a = series([0, 1, 2, 3], [100, 300, 100, 100])
    b = series([0, 1, 2, 3], [100, 100, 350, 100])
    assert peak_power([a, b]) == (450.0, T0 + 2)


def test_only_times_every_node_reports_count():
    a = series([0, 1, 2, 3], [100, 900, 100, 100])
    b = series([0, 2, 3], [100, 100, 100])  # b has no sample at 1: a's 900 W is not a peak
    c = series([0, 1, 2, 3], [5, 5, np.nan, 5])  # c has no value at 2
    assert peak_power([a, b, c]) == (205.0, T0 + 0)


def test_single_node_peak_is_its_maximum_first_time_reached():
    assert peak_power([series([0, 1, 2, 3], [1, 7, 7, np.nan])]) == (7.0, T0 + 1)


def test_unaligned_nodes_hold_their_last_value_for_one_interval():
    a = series([0, 2, 4, 6], [100, 500, 100, 100])
    b = series([1, 3, 5, 7], [200, 200, 600, 200])
    # union 0..7: at 5, a holds 100 (from 4) and b reads 600 -> 700; at 2: 500 + 200 = 700
    # earlier, so (700, 2); at 0 b has no value yet, and 7 - 6 = 1 <= a's 2-s cadence
    assert peak_power([a, b]) == (700.0, T0 + 2)


def test_unaligned_nodes_are_not_held_longer_than_their_cadence():
    a = series([0, 2, 4, 6], [100, 100, 100, 100])  # 2-s cadence
    b = series([5, 9], [50, 1000])
    # at 9, a's last sample (6) is 3 s old > 2 s: b's 1000 W is never summed with a guess
    assert peak_power([a, b]) == (150.0, T0 + 5)
    late = series([30], [50])  # a's last sample is 24 s old by then, and late has none before
    assert peak_power([a, late]) == (None, None)


def test_nothing_to_compare_gives_none():
    assert peak_power([]) == (None, None)
    assert peak_power([series([0, 1], [np.nan, np.nan])]) == (None, None)


@given(st.lists(st.lists(st.floats(0, 1000), min_size=1, max_size=30), min_size=1, max_size=4))
def test_aligned_peak_is_the_max_of_the_row_sums(columns):
    n = min(len(c) for c in columns)
    nodes = [series(np.arange(n), c[:n]) for c in columns]
    total = np.sum([c[:n] for c in columns], axis=0)
    watts, epoch = peak_power(nodes)
    assert watts == total.max()
    assert epoch == T0 + int(np.argmax(total))
