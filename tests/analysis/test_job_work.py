"""The note about an upload's figure of merit joins the job's work columns."""

from __future__ import annotations

import pytest

from analysis_module.app.job_work import LikwidRead, job_work_columns

NO_LIKWID = LikwidRead((), (), ())
METRICS = {"energy_j": 3150.0, "cost_eur": 0.63, "time_to_solution_s": 100.0}


def test_a_note_alone_is_a_given_work_without_figures():
    columns = job_work_columns(NO_LIKWID, None, METRICS, note="5_0_vm.h5: ignored")
    assert columns["work_source"] == "given" and columns["work_note"] == "5_0_vm.h5: ignored"
    assert (columns["gflop"], columns["energy_per_gflop_j"]) == (None, None)


def test_a_note_beside_a_given_figure_keeps_the_figures():
    columns = job_work_columns(NO_LIKWID, ("GFLOP", 5000.0), METRICS, note="2 figures")
    assert columns["energy_per_gflop_j"] == pytest.approx(0.63)
    assert columns["eur_per_gflop"] == pytest.approx(0.63 / 5000)
    assert columns["work_note"] == "2 figures"


def test_no_note_and_no_work_is_no_work_columns():
    assert job_work_columns(NO_LIKWID, None, METRICS) == {}
