"""The shortcuts of the task grid, the per-sample table and a small job's single pass change
no bit on real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis_module.pipeline_core import analyse, tasks, timeseries
from analysis_module.pipeline_core.analyse import ResolvedFactors, compute_job
from analysis_module.pipeline_core.factors import PiecewiseConstant
from analysis_module.pipeline_core.inputs import AnalysisOptions
from analysis_module.pipeline_core.power_pass import power_pass
from analysis_module.processing import open_profile
from tests.support.slurm_synth import write_node_step_job, write_synthetic_job

REPO = Path(__file__).resolve().parents[2]
REPO_FILES = sorted(
    [*REPO.glob("tests/data/**/*.h5"), *REPO.glob("examples/profiles/**/*.h5")], key=str
)


def job_rows(path: Path) -> tuple[list, dict]:
    """Every per-sample chunk and the summary of ``path``, priced so every column is filled."""
    price = PiecewiseConstant(np.array([0]), np.array([2**40]), np.array([90.0]), "EUR/MWh", "test")
    carbon = PiecewiseConstant(np.array([0]), np.array([2**40]), np.array([400.0]), "g/kWh", "test")
    factors = ResolvedFactors(price=price, carbon=carbon)
    written: list = []
    options = AnalysisOptions()
    with open_profile(path) as profile:
        power = power_pass(profile, options)
        result = compute_job(profile, power, factors, options=options, write_rows=written.append)
    return written, result.summary


def without_shortcuts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Grid cells always as index arrays, epochs always through union1d and searchsorted, each
    series' per-interval figures computed again in pass 2."""
    plain_index = tasks._EpochGrid.index

    def index(self, epochs):
        cells = plain_index(self, epochs)
        return np.arange(cells.start, cells.stop) if isinstance(cells, slice) else cells

    class Searched(timeseries._Spread):
        def __init__(self, union, epochs):
            self.n, self.rows = len(union), np.searchsorted(union, epochs)

    monkeypatch.setattr(tasks._EpochGrid, "index", index)
    monkeypatch.setattr(timeseries, "_Spread", Searched)
    monkeypatch.setattr(analyse, "KEEP_INTERVALS_SAMPLES", -1)
    monkeypatch.setattr(
        timeseries, "_union", lambda parts: parts[0] if len(parts) == 1 else np.union1d(*parts)
    )


def assert_same_job(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast_rows, fast_summary = job_rows(path)
    with monkeypatch.context() as patch:
        without_shortcuts(patch)
        plain_rows, plain_summary = job_rows(path)
    assert fast_rows and len(fast_rows) == len(plain_rows)
    for fast, plain in zip(fast_rows, plain_rows, strict=True):
        assert fast.equals(plain)
    assert fast_summary == plain_summary


@pytest.mark.parametrize("path", REPO_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_repository_file_gives_the_same_rows_without_shortcuts(path, monkeypatch):
    assert_same_job(path, monkeypatch)


def test_synthetic_jobs_give_the_same_rows_without_shortcuts(tmp_path, monkeypatch):
    merged = write_synthetic_job(tmp_path / "job_4.h5", n_nodes=3, tasks_per_node=4, duration_s=700)
    assert_same_job(merged, monkeypatch)
    for path in write_node_step_job(tmp_path / "steps", job_id=6, n_nodes=2, steps=("0", "1")):
        assert_same_job(path, monkeypatch)
