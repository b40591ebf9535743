"""The first stage of an analysis (pipeline_core/power_pass.py) over an in-memory profile."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from analysis_module.pipeline_core.inputs import AnalysisOptions
from analysis_module.pipeline_core.power_pass import power_pass

T0 = 1_790_000_000


@dataclass
class Part:
    step: str
    node: str
    series: tuple[str, ...]
    n_tasks: int | None = 1
    task_ranks: tuple[int, ...] = ()


class Profile:
    job_id = "7"

    def __init__(self, energy: dict[tuple[str, str], tuple]):
        self.energy = energy
        self.node_steps = [
            Part("0", "n1", ("Energy",)),
            Part("0", "n2", ("Tasks",)),
            Part("1", "n1", ("Energy",)),
        ]

    def read_energy(self, ns):
        epochs, watts = self.energy[(ns.step, ns.node)]
        t = T0 + np.asarray(epochs, dtype=np.int64)
        return pa.table(
            {
                "step": [ns.step] * len(t),
                "node": [ns.node] * len(t),
                "elapsed_s": t - T0,
                "epoch_s": t,
                "NodePower": pa.array(watts, pa.uint64()),
            }
        )


def test_series_per_step_and_per_node_and_the_window_of_all():
    profile = Profile({("0", "n1"): ((5, 6, 7), (100, 110, 120)), ("1", "n1"): ((8, 9), (50, 60))})
    found = power_pass(profile, AnalysisOptions())
    assert (found.nodes, found.steps) == (["n1", "n2"], ["0", "1"])
    assert set(found.step_series) == {("0", "n1"), ("1", "n1")}
    assert list(found.node_series) == ["n1"]  # n2 recorded no Energy
    merged = found.node_series["n1"]
    assert (merged.epoch_s - T0).tolist() == [5, 6, 7, 8, 9]
    assert merged.watts.tolist() == [100, 110, 120, 50, 60]
    assert found.window == (T0 + 5, T0 + 9)


def test_implausible_power_is_a_gap_and_no_energy_means_no_window():
    profile = Profile({("0", "n1"): ((5, 6), (100, 10**9)), ("1", "n1"): ((), ())})
    found = power_pass(profile, AnalysisOptions(power_ceiling_w=1000))
    assert set(found.step_series) == {("0", "n1")}  # an empty table gives no series
    assert np.isnan(found.step_series[("0", "n1")].watts[1])
    assert found.step_series[("0", "n1")].gap_samples == 1
    assert (
        power_pass(
            Profile({("0", "n1"): ((), ()), ("1", "n1"): ((), ())}), AnalysisOptions()
        ).window
        is None
    )
