"""The reader on synthetic files covering what the three real jobs do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from analysis_module.processing import (
    open_profile,
    read_profile_tables,
)
from tests.support.slurm_synth import (
    NodeSpec,
    StepSpec,
    TaskSeries,
    write_job_file,
    write_node_step_file,
)

START_S = 1_700_000_000
NO_VAL = 4294967294


def _epochs(n: int, first_s: int = START_S) -> np.ndarray:
    return first_s + np.arange(n, dtype=np.int64)


def _node(name: str = "n1", index: int = 0, **kwargs: object) -> NodeSpec:
    defaults: dict[str, object] = {
        "energy": {"Power": np.full(3, 200, dtype=np.uint64)},
        "energy_epochs": _epochs(3),
    }
    return NodeSpec(name=name, index=index, start_epoch=START_S, **(defaults | kwargs))


def test_steps_sort_numerically_with_batch_first(tmp_path: Path) -> None:
    names = ["0", "1", "2", "10", "batch", "-4", "-6"]
    path = write_job_file(tmp_path, job_id=9, steps=[StepSpec(s, [_node()]) for s in names])
    with open_profile(path) as profile:
        assert [ns.step for ns in profile.node_steps] == ["batch", "-6", "-4", "0", "1", "2", "10"]


def test_nodes_sort_by_index_then_name(tmp_path: Path) -> None:
    nodes = [_node("c", 1), _node("b", 0), _node("a", 1), _node("n10", 10), _node("n2", 2)]
    path = write_job_file(tmp_path, job_id=9, steps=[StepSpec("0", nodes)])
    with open_profile(path) as profile:
        assert [ns.node for ns in profile.node_steps] == ["b", "a", "c", "n2", "n10"]


def test_task_ranks_sort_numerically_and_rows_keep_file_order(tmp_path: Path) -> None:
    rss_by_rank = {rank: np.arange(3, dtype=np.uint64) + 100 * rank for rank in (0, 1, 2, 10)}
    tasks = {r: TaskSeries(_epochs(3), {"RSS": rss}) for r, rss in rss_by_rank.items()}
    path = write_job_file(tmp_path, job_id=9, steps=[StepSpec("0", [_node(tasks=tasks)])])
    with open_profile(path) as profile:
        (ns,) = profile.node_steps
        assert ns.task_ranks == (0, 1, 2, 10)
        table = profile.read_tasks(ns)
    assert table.column("rank").to_pylist() == [0] * 3 + [1] * 3 + [2] * 3 + [10] * 3
    assert table.column("rss_kib").to_pylist() == [0, 1, 2, 100, 101, 102, 200, 201, 202,
                                                   1000, 1001, 1002]  # fmt: skip
    assert "gpu_mem_mib" not in table.schema.names


def test_missing_node_attributes_read_as_none(tmp_path: Path) -> None:
    omitted = frozenset({"Node Index", "Number of Tasks", "CPUs per Task", "Start Time"})
    path = write_job_file(tmp_path, job_id=9, steps=[StepSpec("0", [_node(omit_attrs=omitted)])])
    with open_profile(path) as profile:
        (ns,) = profile.node_steps
    assert (ns.node_index, ns.n_tasks, ns.cpus_per_task, ns.start_time) == (None,) * 4
    assert ns.node == "n1"


def test_single_step_file_without_number_of_nodes_reads(tmp_path: Path) -> None:
    path = write_job_file(tmp_path / "job_12.h5", job_id=12, steps=[StepSpec("0", [_node()])])
    with open_profile(path) as profile:
        assert profile.job_id == "12"
        assert profile.node_steps[0].start_time == "Tue Nov 14 22:13:20 2023"
        assert profile.read_energy(profile.node_steps[0]).num_rows == 3


def test_sample_before_step_start_gives_negative_elapsed(tmp_path: Path) -> None:
    # ipmi/gpu sample times come from slurmd's poll and may predate the step start
    node = _node(energy={"Power": np.full(4, 90, np.uint64)}, energy_epochs=_epochs(4, START_S - 2))
    path = write_job_file(tmp_path, job_id=9, steps=[StepSpec("0", [node])])
    with open_profile(path) as profile:
        energy = profile.read_energy(profile.node_steps[0])
    assert energy.column("elapsed_s").to_pylist() == [-2, -1, 0, 1]
    assert energy.column("epoch_s").to_pylist() == list(_epochs(4, START_S - 2))


def test_gpu_task_fields_when_present(tmp_path: Path) -> None:
    gpu_util = np.array([0.0, 55.5, 70.25])
    task = TaskSeries(
        _epochs(3), {"GPUMemMB": np.array([0, 512, 1024]), "GPUUtilization": gpu_util}
    )
    task = TaskSeries(task.epochs, task.fields, gpu=True)
    path = write_job_file(tmp_path, job_id=9, steps=[StepSpec("0", [_node(tasks={0: task})])])
    with open_profile(path) as profile:
        tasks = profile.read_tasks(profile.node_steps[0])
    assert tasks.schema.names[-2:] == ["gpu_mem_mib", "gpu_util_pct"]
    assert tasks.schema.field("gpu_mem_mib").type == pa.uint64()
    assert tasks.column("gpu_mem_mib").to_pylist() == [0, 512, 1024]
    assert tasks.column("gpu_util_pct").to_pylist() == [0.0, 55.5, 70.25]


def test_ipmi_labels_keep_their_names_and_raw_no_val(tmp_path: Path) -> None:
    energy = {
        "NodePower": np.array([310, NO_VAL, 320], dtype=np.uint64),
        "Socket0Power": np.array([120, 2 * NO_VAL, 125], dtype=np.uint64),
    }
    node = _node("n1", 0, energy=energy)
    other = _node("n2", 1, energy={"NodePower": np.array([300, 301, 302], dtype=np.uint64)})
    path = write_job_file(tmp_path, job_id=9, steps=[StepSpec("0", [node, other])])
    with open_profile(path) as profile:
        first, second = (profile.read_energy(ns) for ns in profile.node_steps)
    assert first.schema.names[4:] == ["NodePower", "Socket0Power"]
    assert first.schema.field("NodePower").type == pa.uint64()
    assert first.column("NodePower").to_pylist() == [310, NO_VAL, 320]
    assert first.column("Socket0Power").to_pylist() == [120, 2 * NO_VAL, 125]
    assert second.schema.names[4:] == ["NodePower"]  # each node its own field set
    combined = read_profile_tables(path)["energy"]
    assert combined.column("Socket0Power").null_count == 3


def test_xcc_energy_and_float_fields_keep_stored_types(tmp_path: Path) -> None:
    energy = {
        "Energy": np.array([0, 2100, 2300], dtype=np.uint64),
        "CurrPower": np.array([0, 210, 230], dtype=np.uint64),
        "Custom": np.array([1.5, 2.5, 3.5]),
    }
    path = write_job_file(tmp_path, job_id=9, steps=[StepSpec("0", [_node(energy=energy)])])
    with open_profile(path) as profile:
        table = profile.read_energy(profile.node_steps[0])
    assert table.schema.names[4:] == ["Energy", "CurrPower", "Custom"]
    assert table.column("Energy").to_pylist() == [0, 2100, 2300]
    assert table.schema.field("Custom").type == pa.float64()


def test_network_and_filesystem_series(tmp_path: Path) -> None:
    network = {
        "PacketsIn": np.array([0, 10], dtype=np.uint64),
        "PacketsOut": np.array([0, 20], dtype=np.uint64),
        "InMB": np.array([0.0, 1.25]),
        "OutMB": np.array([0.0, 2.5]),
    }
    filesystem = {
        "Reads": np.array([0, 7], dtype=np.uint64),
        "ReadMB": np.array([0.0, 3.0]),
        "Writes": np.array([0, 9], dtype=np.uint64),
        "WriteMB": np.array([0.0, 4.5]),
    }
    node = _node(
        energy=None,
        network=network,
        network_epochs=_epochs(2),
        filesystem=filesystem,
        filesystem_epochs=_epochs(2, START_S + 5),
    )
    path = write_job_file(tmp_path, job_id=9, steps=[StepSpec("0", [node])])
    with open_profile(path) as profile:
        (ns,) = profile.node_steps
        assert ns.series == ("Network", "Filesystem")
        assert profile.read_energy(ns) is None and profile.read_tasks(ns) is None
        net, fs = profile.read_network(ns), profile.read_filesystem(ns)
    assert net.schema.names[4:] == ["packets_in", "packets_out", "in_mib", "out_mib"]
    assert net.column("out_mib").to_pylist() == [0.0, 2.5]
    assert fs.schema.names[4:] == ["reads", "read_mib", "writes", "write_mib"]
    assert fs.column("writes").to_pylist() == [0, 9]
    assert fs.column("elapsed_s").to_pylist() == [5, 6]


@pytest.mark.parametrize(
    ("file_name", "job_id", "step"),
    [
        ("7_4294967292_n1.h5", "7", "-4"),
        ("7_4294967290_n1.h5", "7", "-6"),
        ("7_batch_n1.h5", "7", "batch"),
        ("7_3_n1.h5", "7", "3"),
        ("7_0_n1_with_underscores.h5", "7", "0"),
        ("upload.h5", None, "unknown"),
        ("job_7.h5", None, "unknown"),  # never "job" from job_7
    ],
)
def test_node_step_job_and_step_from_file_name(
    tmp_path: Path, file_name: str, job_id: str | None, step: str
) -> None:
    path = write_node_step_file(tmp_path / file_name, node=_node("n1"))
    with open_profile(path) as profile:
        assert profile.layout == "node_step"
        assert profile.job_id == job_id
        assert [(ns.step, ns.node) for ns in profile.node_steps] == [(step, "n1")]


@pytest.mark.parametrize(("file_name", "job_id"), [("job_5.h5", "5"), ("5_0_vm.h5", None)])
def test_merged_job_id_only_from_job_file_name(
    tmp_path: Path, file_name: str, job_id: str | None
) -> None:
    path = write_job_file(tmp_path / file_name, job_id=5, steps=[StepSpec("0", [_node()])])
    with open_profile(path) as profile:
        assert profile.job_id == job_id
