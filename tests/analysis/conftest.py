"""Fixtures for the analysis engine: a runner on a local DuckDB file, and profile builders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis_module.app.runner import FactorOptions, build_runner
from analysis_module.settings import AnalysisSettings
from tests.support.slurm_synth import NodeSpec, StepSpec, TaskSeries, write_job_file


def make_runner(tmp_path: Path, *, rule: str = "trapezoid", **factor_options):
    settings = AnalysisSettings(DUCKDB_PATH=tmp_path / "results.duckdb", INTEGRATION_RULE=rule)
    return build_runner(settings, factor_options=FactorOptions(**factor_options))


@pytest.fixture
def runner_factory(tmp_path):
    made = []

    def factory(**kwargs):
        runner = make_runner(tmp_path, **kwargs)
        made.append(runner)
        return runner

    yield factory
    for runner in made:
        runner.close()


def query(runner, sql: str, params=None):
    """Read through the runner's own DuckDB connection (a file allows one writer process)."""
    return runner.sink.con.execute(sql, params or []).fetchall()


def one_node_job(
    path: Path,
    *,
    epochs: np.ndarray,
    energy: dict[str, np.ndarray],
    job_id: str = "77",
    node: str = "n1",
    step: str = "0",
    tasks: dict[int, TaskSeries] | None = None,
) -> Path:
    write_job_file(
        path,
        job_id=job_id,
        steps=[
            StepSpec(
                step,
                [
                    NodeSpec(
                        node, 0, int(epochs[0]), energy=energy, energy_epochs=epochs, tasks=tasks
                    )
                ],
            )
        ],
    )
    return path
