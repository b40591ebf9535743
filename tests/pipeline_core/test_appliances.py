"""The everyday comparison: which appliance, for how long."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis_module.pipeline_core.appliances import (
    APPLIANCES,
    compare_to_appliance,
    describe,
    format_duration,
)


def test_a_kettle_for_8_minutes():
    assert compare_to_appliance(2000.0 * 480) == ("kettle", 480.0)
    assert describe(2000.0 * 480) == "like a kettle for 8 minutes"


def test_a_bit_more_energy_is_an_oven_for_10_minutes():
    assert describe(2400.0 * 600) == "like an oven for 10 minutes"


def test_the_real_batch_step_is_an_led_bulb_for_about_five_minutes():
    assert compare_to_appliance(3150.0) == ("LED bulb", 315.0)
    assert describe(3150.0) == "like an LED bulb for 5.2 minutes"


def test_large_jobs_use_the_car_charger():
    name, duration_s = compare_to_appliance(11000.0 * 3 * 3600)
    assert (name, duration_s) == ("electric car charger", 3 * 3600.0)
    assert describe(11000.0 * 3 * 3600) == "like an electric car charger for 3 hours"


@pytest.mark.parametrize("energy_j", [None, 0.0, -5.0, math.nan])
def test_no_energy_no_comparison(energy_j):
    assert compare_to_appliance(energy_j) == (None, None)
    assert describe(energy_j) == ""


@given(st.floats(1e-3, 1e13))
def test_the_chosen_run_time_is_closest_to_ten_minutes_on_a_log_scale(energy_j):
    name, duration_s = compare_to_appliance(energy_j)
    chosen = next(a for a in APPLIANCES if a.name == name)
    assert duration_s == pytest.approx(energy_j / chosen.power_w)
    distance = abs(math.log(duration_s / 600))
    assert all(distance <= abs(math.log(energy_j / a.power_w / 600)) + 1e-12 for a in APPLIANCES)


@pytest.mark.parametrize(
    ("duration_s", "text"),
    [
        (1.0, "1 second"),
        (45.0, "45 seconds"),
        (0.25, "0.25 seconds"),
        (90.0, "1.5 minutes"),
        (3600.0, "60 minutes"),
        (5400.0, "1.5 hours"),
        (86400.0 * 3, "3 days"),
    ],
)
def test_durations_read_naturally(duration_s, text):
    assert format_duration(duration_s) == text
