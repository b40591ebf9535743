"""Synthetic multi-node, multi-step Slurm jobs written both ways: as the node-step files
slurmstepd writes and as the merged file `sh5util -j` makes of them, with their true energy.

`split_merged_file` turns any merged file into node-step files (the reverse of `sh5util -j`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from tests.support.slurm_synth import (
    NodeSpec,
    StepSpec,
    TaskSeries,
    node_step_file_name,
    power_pattern,
    true_energy_left,
    write_job_file,
    write_node_step_file,
)

START = 1_700_000_000


@dataclass(frozen=True)
class SyntheticJob:
    job_id: str
    steps: list[StepSpec]
    truth_j: float  # per node: its samples over all steps merged, power constant per second

    def write_merged(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        return write_job_file(
            folder / f"job_{self.job_id}.h5", job_id=self.job_id, steps=self.steps
        )

    def write_node_steps(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        return [
            write_node_step_file(folder, node=node, job_id=self.job_id, step=step.name)
            for step in self.steps
            for node in step.nodes
        ]


def synthetic_job(
    job_id: str = "7", *, n_nodes: int = 4, step_s: int = 300, tasks_per_node: int = 2
) -> SyntheticJob:
    """`batch` on the first node for the whole job, then steps 0 and 1 on every node, back to
    back, sampled at 1 Hz; nodes draw different power patterns."""
    end = START + 2 * step_s
    windows = {
        "batch": (START, end),
        "0": (START + 1, START + step_s),
        "1": (START + step_s + 1, end),
    }
    patterns = [(100 + 10 * i, 250 + 5 * i, 150) for i in range(n_nodes)]
    steps = []
    for name, (first, last) in windows.items():
        epochs = np.arange(first, last + 1, dtype=np.int64)
        nodes = []
        for i in range(1 if name == "batch" else n_nodes):
            ranks = range(i * tasks_per_node, (i + 1) * tasks_per_node) if name != "batch" else [0]
            nodes.append(
                NodeSpec(
                    name=f"node{i:02d}",
                    index=i,
                    start_epoch=first,
                    energy={"Power": power_pattern(epochs, patterns[i])},
                    energy_epochs=epochs,
                    tasks={rank: TaskSeries(epochs[1:]) for rank in ranks},
                )
            )
        steps.append(StepSpec(name, nodes))
    truth = 0.0
    for i in range(n_nodes):
        seconds = np.unique(
            np.concatenate(
                [node.energy_epochs for step in steps for node in step.nodes if node.index == i]
            )
        )
        truth += true_energy_left(seconds, lambda t, p=patterns[i]: power_pattern(t, p))
    return SyntheticJob(job_id, steps, truth)


def split_merged_file(merged: Path, folder: Path, job_id: str) -> list[Path]:
    """Each /Steps/<step>/Nodes/<node> of a merged file as the node-step file it came from."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with h5py.File(merged, "r") as source:
        for step, step_group in source["Steps"].items():
            for node, group in step_group["Nodes"].items():
                target = folder / node_step_file_name(job_id, step, node)
                with h5py.File(target, "w") as out:
                    source.copy(group, out, name=node)
                written.append(target)
    return written
