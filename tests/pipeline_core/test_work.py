"""Work and energy efficiency of a job: hand calculations a user can redo."""

from __future__ import annotations

import pytest

from analysis_module.pipeline_core.work import (
    WorkSpecError,
    given_work,
    likwid_work,
    parse_work_spec,
    unreadable_work,
    work_columns,
)
from analysis_module.processing.likwid_csv import parse_likwid_csv
from tests.conftest import DATA

ONE_THREAD = (DATA / "likwid" / "flops_dp_1thread.csv").read_bytes()


def test_likwid_flops_dp_gives_work_and_efficiency_by_hand():
    work = likwid_work(parse_likwid_csv(ONE_THREAD).groups)
    # DP 67628.4780 MFLOP/s for 100.1028 s on one thread
    gflop = 67628.4780 * 100.1028 / 1000
    assert work.group == "FLOPS_DP"
    assert work.gflop == pytest.approx(gflop, rel=1e-9)
    assert work.gflops == pytest.approx(67.6284780, rel=1e-9)
    columns = work_columns(work, energy_j=36_000.0, cost_eur=0.012)
    assert columns["energy_per_gflop_j"] == pytest.approx(36_000.0 / gflop, rel=1e-9)
    assert columns["gflops_per_w"] == pytest.approx(gflop / 36_000.0, rel=1e-9)
    assert columns["eur_per_gflop"] == pytest.approx(0.012 / gflop, rel=1e-9)
    assert columns["work_source"] == "likwid" and columns["work_note"] is None


def test_a_given_rate_counts_over_the_time_to_solution():
    work = given_work("GFLOP/s", 1200.0, time_to_solution_s=50.0)
    columns = work_columns(work, energy_j=30_000.0, cost_eur=None)
    assert columns["gflop"] == 60_000.0
    assert columns["gflops_per_w"] == 2.0  # 60,000 GFLOP / 30,000 J
    assert columns["eur_per_gflop"] is None
    assert (columns["work_unit"], columns["work_value"]) == ("GFLOP/s", 1200.0)


def test_a_bandwidth_figure_has_no_flop_columns():
    columns = work_columns(given_work("GB/s", 180.0, 10.0), energy_j=1.0, cost_eur=1.0)
    assert columns["mem_bandwidth_gbytes_per_s"] == 180.0
    assert columns["gflop"] is None and columns["energy_per_gflop_j"] is None


def test_without_energy_the_work_stays_and_the_note_says_why():
    columns = work_columns(given_work("GFLOP", 10.0, 5.0), energy_j=None, cost_eur=None)
    assert columns["gflop"] == 10.0 and columns["gflops"] == 2.0
    assert columns["energy_per_gflop_j"] is None
    assert "no energy" in columns["work_note"]


def test_an_unreadable_file_is_a_note_not_a_number():
    columns = work_columns(
        unreadable_work("flops_5.csv", "not UTF-8 text"), energy_j=5.0, cost_eur=1.0
    )
    assert columns["work_note"] == "flops_5.csv: not UTF-8 text"
    assert columns["gflop"] is None and columns["gflops_per_w"] is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("GFLOP/s=1234.5", ("GFLOP/s", 1234.5)), (" GB/s = 180", ("GB/s", 180.0))],
)
def test_work_spec_parses(text, expected):
    assert parse_work_spec(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1234", "not UNIT=VALUE"),
        ("GFLOP/s=fast", "is not a number"),
        ("GFLOP/s=-1", ">= 0"),
        ("GFLOP/s=nan", "finite"),
        ("=5", "not UNIT=VALUE"),
    ],
)
def test_bad_work_specs_say_what_is_wrong(text, message):
    with pytest.raises(WorkSpecError, match=message):
        parse_work_spec(text)
