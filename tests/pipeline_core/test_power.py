"""Choice of the node-level power field, cleaning of raw values, de-duplication by EpochTime."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis_module.pipeline_core.power import (
    NO_VAL,
    clean_power,
    dedupe_by_epoch,
    select_power_source,
    sum_power_fields,
)

TIME = ["step", "node", "elapsed_s", "epoch_s"]


@pytest.mark.parametrize(
    ("fields", "source", "scope", "kind", "power_fields", "components"),
    [
        (
            ["NodePower", "Socket0Power", "GPU0Power"],
            "NodePower",
            "node",
            "power",
            ("NodePower",),
            ("Socket0Power", "GPU0Power"),
        ),
        (["Power"], "Power", "cpu_dram", "power", ("Power",), ()),
        (["Power", "GPU0Power"], "Power", "cpu_dram", "power", ("Power",), ("GPU0Power",)),
        (["Energy", "CurrPower"], "Energy", "node", "interval_energy", ("CurrPower",), ()),
        (
            ["GPU10Power", "GPU2Power", "GPU0Power"],
            "GPU",
            "gpu",
            "gpu_sum",
            ("GPU0Power", "GPU2Power", "GPU10Power"),
            (),
        ),
        ([], None, None, "none", (), ()),
    ],
)
def test_node_level_source_follows_the_spec_order(
    fields, source, scope, kind, power_fields, components
):
    selection = select_power_source(TIME + fields)
    assert selection.power_source == source
    assert selection.energy_scope == scope
    assert selection.kind == kind
    assert selection.power_fields == power_fields
    assert selection.component_fields == components


def test_nodepower_wins_over_power_and_xcc_energy():
    selection = select_power_source(["Energy", "CurrPower", "Power", "NodePower"])
    assert selection.power_source == "NodePower"
    assert "Power" in selection.component_fields and "CurrPower" in selection.component_fields
    assert selection.energy_field is None


def test_xcc_names_its_energy_field():
    assert select_power_source(["Energy", "CurrPower"]).energy_field == "Energy"
    assert select_power_source(["Energy"]).power_fields == ()


@pytest.mark.parametrize(
    ("plugin", "scope"),
    [("rapl", "cpu_dram"), ("pm_counters", "node"), ("ibmaem", "node"), ("PM_COUNTERS", "node")],
)
def test_a_site_can_say_which_plugin_writes_power(plugin, scope):
    assert select_power_source(["Power"], power_plugin=plugin).energy_scope == scope


def test_a_plugin_that_never_writes_power_contradicts_the_file():
    # Unknown names are refused at start-up (settings); ipmi is real but writes <label>Power.
    with pytest.raises(ValueError, match=r"field 'Power'.*but ENERGY_PLUGIN is 'ipmi'"):
        select_power_source(["Power"], power_plugin="ipmi")


def test_sentinels_and_their_multiples_are_counted_as_gaps():
    raw = np.array([120, NO_VAL, 2 * NO_VAL, 3 * NO_VAL, NO_VAL + 1, 0], dtype=np.uint64)
    cleaned = clean_power(raw, ceiling_w=None)
    assert cleaned.n_sentinel == 3
    assert cleaned.n_implausible == 0
    assert cleaned.watts[0] == 120.0
    assert np.isnan(cleaned.watts[1:4]).all()
    assert cleaned.watts[4] == NO_VAL + 1  # not a sentinel; a ceiling catches it (next test)
    assert cleaned.watts[5] == 0.0


def test_ceiling_and_negative_values_are_implausible_but_sentinels_only_count_once():
    raw = np.array([120.0, -5.0, 5000.0, float(NO_VAL), float(2 * NO_VAL), np.nan, 4294967295.0])
    cleaned = clean_power(raw, ceiling_w=3000.0)
    assert (cleaned.n_sentinel, cleaned.n_implausible, cleaned.n_nonfinite) == (2, 3, 1)
    assert cleaned.watts[0] == 120.0
    assert np.isnan(cleaned.watts[1:]).all()
    assert cleaned.watts.dtype == np.float64


@given(st.lists(st.integers(0, 5 * NO_VAL), max_size=50))
def test_uint64_and_float64_inputs_clean_alike(values):
    as_uint = clean_power(np.array(values, dtype=np.uint64), ceiling_w=None)
    as_float = clean_power(np.array(values, dtype=np.float64), ceiling_w=None)
    assert as_uint.n_sentinel == as_float.n_sentinel
    assert as_uint.n_sentinel == sum(1 for v in values if v >= NO_VAL and v % NO_VAL == 0)
    np.testing.assert_array_equal(as_uint.watts, as_float.watts)


def test_dedupe_keeps_the_first_row_of_each_epoch_in_the_order_given():
    epochs = np.array([5, 3, 3, 4, 5, 1])
    watts = np.array([50.0, 30.0, 31.0, 40.0, 51.0, 10.0])
    tag = np.array(["a", "b", "c", "d", "e", "f"])
    epoch_u, watts_u, tag_u = dedupe_by_epoch(epochs, watts, tag)
    assert epoch_u.tolist() == [1, 3, 4, 5]
    assert watts_u.tolist() == [10.0, 30.0, 40.0, 50.0]
    assert tag_u.tolist() == ["f", "b", "d", "a"]
    assert epoch_u.dtype == np.int64


@given(st.lists(st.integers(0, 20), max_size=40))
def test_dedupe_matches_a_first_occurrence_dictionary(epochs):
    rows = np.arange(len(epochs))
    epoch_u, rows_u = dedupe_by_epoch(np.array(epochs, dtype=np.int64), rows)
    first: dict[int, int] = {}
    for row, e in enumerate(epochs):
        first.setdefault(e, row)
    assert epoch_u.tolist() == sorted(first)
    assert rows_u.tolist() == [first[e] for e in sorted(first)]


def test_gpu_sum_is_a_gap_when_any_gpu_is_missing():
    total = sum_power_fields([np.array([100.0, 100.0]), np.array([50.0, np.nan])])
    assert total[0] == 150.0
    assert np.isnan(total[1])
