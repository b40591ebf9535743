"""The synthetic writer follows Slurm's layout and matches what real Slurm files look like.

Layout: docs/energy-metrics.md section 7.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis_module.processing import read_profile_tables
from tests.support.slurm_synth import (
    NodeSpec,
    StepSpec,
    TaskSeries,
    node_step_file_name,
    power_pattern,
    true_energy_left,
    write_job_file,
    write_node_step_file,
    write_synthetic_job,
)

REAL_JOB_5 = Path(__file__).resolve().parents[2] / "examples" / "profiles" / "job_5.h5"
START_S = 1_700_000_000


def _node(name: str = "node01") -> NodeSpec:
    epochs = START_S + np.arange(4)
    return NodeSpec(
        name=name,
        start_epoch=START_S,
        energy={"Power": power_pattern(epochs)},
        energy_epochs=epochs,
        tasks={0: TaskSeries(epochs[1:]), 1: TaskSeries(epochs[1:])},
    )


def _attr_layout(group: h5py.Group, name: str) -> tuple[int, int, tuple[int, ...]]:
    attr = h5py.h5a.open(group.id, name.encode())
    string_pad = attr.get_type().get_strpad() if name in ("Node Name", "Start Time") else -1
    return attr.get_type().get_size(), string_pad, attr.get_space().shape


def test_power_pattern_is_the_emulators() -> None:
    epochs = np.array([0, 4, 5, 9, 10, 14, 15])
    assert power_pattern(epochs).tolist() == [100, 100, 250, 250, 150, 150, 100]
    assert power_pattern(np.array([3, 4]), pattern=(1, 2), seconds_per_level=2).tolist() == [2, 1]


def test_true_energy_left_of_the_real_job_4() -> None:
    # README: job 4's true node energy is 2500 J over EpochTime 1795898905..1795898920
    epochs = np.arange(1795898905, 1795898921)
    assert true_energy_left(epochs, power_pattern) == 2500.0
    assert true_energy_left(epochs, power_pattern(epochs)) == 2500.0
    assert true_energy_left(np.array([0, 10]), np.array([5.0, 7.0])) == 50.0


def test_attributes_and_datasets_look_like_real_slurm(tmp_path: Path) -> None:
    path = write_job_file(tmp_path, job_id=3, steps=[StepSpec("0", [_node("vm")])])
    assert path.name == "job_3.h5"
    with h5py.File(path, "r") as ours, h5py.File(REAL_JOB_5, "r") as real:
        ours_node, real_node = ours["Steps/0/Nodes/vm"], real["Steps/0/Nodes/vm"]
        for name in ("Node Index", "Node Name", "Number of Tasks", "CPUs per Task", "Start Time"):
            assert _attr_layout(ours_node, name) == _attr_layout(real_node, name), name
        assert ours_node.attrs["Node Name"][0] == b"vm"  # last character kept (mtype=)
        for series in ("Energy", "Tasks/0"):
            mine, theirs = ours_node[series], real_node[series]
            assert mine.dtype == theirs.dtype
            assert (mine.chunks, mine.maxshape) == ((10,), (None,))
            assert (mine.compression, mine.compression_opts) == ("gzip", 0)


def test_number_of_nodes_missing_on_the_last_processed_step(tmp_path: Path) -> None:
    steps = [StepSpec(s, [_node()]) for s in ("batch", "0", "10", "2", "-4")]
    path = write_job_file(tmp_path / "job_8.h5", job_id=8, steps=steps)
    with h5py.File(path, "r") as h5:
        assert h5.attrs["Number of Steps"].tolist() == [5]
        with_attr = {s for s in h5["Steps"] if "Number of Nodes" in h5["Steps"][s].attrs}
    assert with_attr == {"batch", "0", "2", "-4"}  # step 10 is processed last


def test_node_step_file_names_use_uint32_step_ids(tmp_path: Path) -> None:
    assert node_step_file_name(7, "-4", "n1") == "7_4294967292_n1.h5"
    assert node_step_file_name(7, "batch", "n1") == "7_batch_n1.h5"
    path = write_node_step_file(tmp_path, node=_node("n1"), job_id=7, step="-6")
    assert path.name == "7_4294967290_n1.h5"
    with h5py.File(path, "r") as h5:
        assert list(h5) == ["n1"]
    with pytest.raises(ValueError, match="job_id and step"):
        write_node_step_file(tmp_path, node=_node("n1"))


def test_streamed_file_matches_its_parameters_across_blocks(tmp_path: Path) -> None:
    path = write_synthetic_job(
        tmp_path / "job_6.h5", n_nodes=2, tasks_per_node=3, duration_s=25, block_rows=7
    )
    tables = read_profile_tables(path)
    energy, tasks = tables["energy"], tables["tasks"]
    assert energy.num_rows == 2 * 26 and tasks.num_rows == 2 * 3 * 25
    node0 = energy.filter(np.array(energy.column("node").to_pylist()) == "node000")
    epochs = node0.column("epoch_s").to_numpy()
    assert np.array_equal(epochs, START_S + np.arange(26))
    assert node0.column("Power").to_numpy().tolist() == power_pattern(epochs).tolist()
    assert sorted(set(tasks.column("rank").to_pylist())) == list(range(6))
    util = tasks.column("cpu_util_pct").to_numpy()
    assert (util == 0.0).sum() == 6  # only each task's first record has zero deltas
