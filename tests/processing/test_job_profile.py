"""`JobProfile`: several Slurm profile files read as one job (docs/jobs.md)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from analysis_module.processing import (
    JobMember,
    JobProfile,
    ProfileError,
    confirm_node_step,
    open_profile,
)
from tests.support.slurm_synth import (
    NodeSpec,
    StepSpec,
    TaskSeries,
    write_job_file,
    write_node_step_file,
)

T0 = 1_700_000_000


def node(name="n1", index=0, epochs=(0, 1, 2, 3), ranks=None, **extra) -> NodeSpec:
    seconds = T0 + np.asarray(epochs, dtype=np.int64)
    tasks = {r: TaskSeries(T0 + np.asarray(e, dtype=np.int64)) for r, e in (ranks or {}).items()}
    return NodeSpec(
        name,
        index,
        T0,
        energy={"Power": np.full(len(seconds), 100, dtype=np.uint64)},
        energy_epochs=seconds,
        tasks=tasks or None,
        **extra,
    )


def test_a_node_step_held_twice_keeps_one_files_rows_plus_the_others_new_times(tmp_path):
    # the merged file starts with two rows at ElapsedTime 0, as Slurm writes them: both stay
    merged = write_job_file(
        tmp_path / "job_9.h5",
        job_id=9,
        steps=[StepSpec("0", [node(epochs=(0, 0, 1, 2, 3), ranks={0: (1, 2, 3)})])],
    )
    extra = node(epochs=(2, 3, 4, 5), ranks={0: (3, 4, 5), 1: (1, 2, 3)})
    part = write_node_step_file(tmp_path / "9_0_n1.h5", node=extra)
    with open_profile(merged) as a, open_profile(part) as b:
        job = JobProfile("9", [JobMember(a), JobMember(b, "0", "n1")])
        (ns,) = job.node_steps
        assert (ns.step, ns.node, ns.task_ranks) == ("0", "n1", (0, 1))
        energy = job.read_energy(ns)
        assert (energy.column("epoch_s").to_numpy() - T0).tolist() == [0, 0, 1, 2, 3, 4, 5]
        tasks = job.read_tasks(ns)
        pairs = list(
            zip(tasks.column("rank").to_pylist(), tasks.column("epoch_s").to_pylist(), strict=True)
        )
        assert [(r, e - T0) for r, e in pairs] == [
            (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (1, 1), (1, 2), (1, 3)
        ]  # fmt: skip


def test_steps_come_from_the_names_and_keep_slurms_order(tmp_path):
    specs = [("1", "n2", 1), ("batch", "n1", 0), ("0", "n2", 1), ("0", "n1", 0)]
    members = []
    for step, name, index in specs:
        # a temporary copy has no telling name: the step is what the source's name said
        path = write_node_step_file(tmp_path / f"copy{len(members)}.h5", node=node(name, index))
        members.append((open_profile(path), step, name))
    job = JobProfile("3", [JobMember(p, step, name) for p, step, name in members])
    try:
        order = [(ns.step, ns.node) for ns in job.node_steps]
        assert order == [("batch", "n1"), ("0", "n1"), ("0", "n2"), ("1", "n2")]
        assert job.read_energy(job.node_steps[0]).column("step")[0].as_py() == "batch"
        assert job.expected_nodes == ("n1", "n2")
    finally:
        job.close()


def test_nodes_of_unreadable_files_are_expected_too(tmp_path):
    path = write_node_step_file(tmp_path / "4_0_a.h5", node=node("a"))
    with open_profile(path) as profile:
        job = JobProfile("4", [JobMember(profile, "0", "a")], expected_nodes=["b", "a"])
        assert job.expected_nodes == ("a", "b")


def test_a_file_holding_another_node_than_its_name_is_refused(tmp_path):
    path = write_node_step_file(tmp_path / "4_0_a.h5", node=node("b"))
    with open_profile(path) as profile, pytest.raises(ProfileError) as caught:
        confirm_node_step(profile, "4_0_a.h5", "a")
    assert str(caught.value) == "4_0_a.h5: the name says node a, the file holds node b"


def test_node_name_attribute_must_agree_too(tmp_path):
    path = write_node_step_file(tmp_path / "4_0_a.h5", node=node("a"))
    with h5py.File(path, "r+") as h5:
        del h5["a"].attrs["Node Name"]
        h5["a"].attrs["Node Name"] = np.bytes_("c")
    with open_profile(path) as profile, pytest.raises(ProfileError, match="Node Name c"):
        confirm_node_step(profile, "4_0_a.h5", "a")


def test_a_merged_file_is_not_a_node_step_file(tmp_path):
    merged = write_job_file(tmp_path / "job_4.h5", job_id=4, steps=[StepSpec("0", [node("a")])])
    with open_profile(merged) as profile, pytest.raises(ProfileError, match="merged job"):
        confirm_node_step(profile, "4_0_a.h5", "a")
