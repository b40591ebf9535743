"""Slurm's sentinels and uninitialised task values never reach a published column.

The CPU-only node is shaped like real production files (Slurm 23.11+, cgroup v2): GPUMemMB
2^44 - 1 and GPUUtilization 2^64 on every record after the first, a garbage GPUMemMB and a 0
utilisation on the first, VMSize 0 and CPUFrequency in MHz.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.analysis.conftest import query
from tests.support.slurm_synth import (
    NodeSpec,
    StepSpec,
    TaskSeries,
    write_job_file,
)

T0 = 1_795_000_000
N_SAMPLES = 6
EPOCHS = T0 + 10 * np.arange(N_SAMPLES, dtype=np.int64)
NO_VAL = 4294967294


def cpu_only_task(rank: int) -> TaskSeries:
    n = N_SAMPLES
    return TaskSeries(
        epochs=T0 + 10 * np.arange(n, dtype=np.int64),
        fields={
            "VMSize": np.zeros(n, dtype=np.uint64),
            "CPUFrequency": np.full(n, 2300, dtype=np.uint64),  # MHz
        },
        gpu_untracked=True,
    )


def gpu_task(n: int = N_SAMPLES) -> TaskSeries:
    util = np.full(n, 85.0)
    util[0] = 0.0  # Slurm's first record
    return TaskSeries(
        epochs=T0 + 10 * np.arange(n, dtype=np.int64),
        fields={"GPUUtilization": util, "GPUMemMB": np.full(n, 4096, dtype=np.uint64)},
        gpu=True,
    )


def node(name: str, index: int, tasks: dict[int, TaskSeries]) -> NodeSpec:
    t = T0 + 10 * np.arange(N_SAMPLES, dtype=np.int64)
    return NodeSpec(
        name,
        index,
        T0,
        energy={"NodePower": np.full(N_SAMPLES, 300, np.uint64)},
        energy_epochs=t,
        tasks=tasks,
    )


def analyse(runner, path):
    outcome = runner.analyse_file(path, source=str(path))
    assert outcome.status == "ok", outcome.error
    return outcome


def step_node_counts(runner, source):
    rows = query(
        runner,
        "SELECT level, step, node, task_sentinel_values FROM job_step_node WHERE source = ?",
        [source],
    )
    return {(level, step, node): count for level, step, node, count in rows}


def test_cpu_only_node_publishes_null_gpu_columns_and_counts_them(runner_factory, tmp_path):
    path = write_job_file(
        tmp_path, job_id=41, steps=[StepSpec("0", [node("cpu1", 0, {0: cpu_only_task(0)})])]
    )
    runner = runner_factory()
    outcome = analyse(runner, path)
    rows = query(
        runner,
        f"SELECT count(*), count(gpu_util_pct), count(gpu_mem_mib), max(cpu_frequency_mhz),"
        f" max(vmsize_mib) FROM {outcome.table_name} WHERE n_tasks_sampled > 0",
    )
    # VMSize 0 throughout is not measured (a process always has an address space)
    assert rows == [(N_SAMPLES, 0, 0, 2300.0, None)]
    # every GPU value of the task (the first record's 0 utilisation too) and every VMSize
    assert outcome.summary["task_sentinel_values"] == 3 * N_SAMPLES
    summary = query(runner, "SELECT task_sentinel_values FROM job_summary")
    assert summary == [(3 * N_SAMPLES,)]
    assert step_node_counts(runner, str(path)) == {
        ("step", "0", None): 3 * N_SAMPLES,
        ("node", None, "cpu1"): 3 * N_SAMPLES,
        ("step_node", "0", "cpu1"): 3 * N_SAMPLES,
    }


def test_gpu_node_values_come_through_beside_a_cpu_only_node(runner_factory, tmp_path):
    nodes = [node("cpu1", 0, {0: cpu_only_task(0)}), node("gpu1", 1, {1: gpu_task()})]
    path = write_job_file(tmp_path, job_id=42, steps=[StepSpec("0", nodes)])
    runner = runner_factory()
    outcome = analyse(runner, path)
    per_node = query(
        runner,
        f"SELECT node, max(gpu_util_pct), max(gpu_mem_mib), count(gpu_mem_mib)"
        f" FROM {outcome.table_name} GROUP BY node ORDER BY node",
    )
    # GPUMemMB is not written on a task's first record: five of six samples carry it
    assert per_node == [("cpu1", None, None, 0), ("gpu1", 85.0, 4096.0, N_SAMPLES - 1)]
    counts = step_node_counts(runner, str(path))
    assert counts[("node", None, "gpu1")] == 1  # the first record's GPUMemMB
    assert counts[("node", None, "cpu1")] == 3 * N_SAMPLES
    assert outcome.summary["task_sentinel_values"] == 3 * N_SAMPLES + 1


@pytest.mark.parametrize(
    ("field", "value", "column"),
    [
        ("RSS", NO_VAL, "rss_mib"),
        ("RSS", 3 * NO_VAL, "rss_mib"),
        ("VMSize", 2**64 - 1, "vmsize_mib"),
        ("CPUUtilization", float(NO_VAL), "cpu_util_pct"),
        ("CPUUtilization", 1e9, "cpu_util_pct"),
        ("CPUFrequency", 25_000_000, "cpu_frequency_mhz"),  # 25 GHz in kHz
        ("GPUUtilization", 100.0 * 64 + 1, "gpu_util_pct"),
        ("GPUUtilization", 4.2e-322, "gpu_util_pct"),  # integer bits in a double (23.02.0-.3)
        ("GPUMemMB", 2**34 + 1, "gpu_mem_mib"),
    ],
)
def test_an_impossible_value_on_a_gpu_node_is_null_and_counted(
    runner_factory, tmp_path, field, value, column
):
    task = gpu_task()
    values = dict(task.fields)
    stored = np.array(values[field] if field in values else _default(field))
    stored[3] = value
    values[field] = stored
    bad = TaskSeries(epochs=task.epochs, fields=values, gpu=True)
    path = write_job_file(tmp_path, job_id=43, steps=[StepSpec("0", [node("gpu1", 0, {0: bad})])])
    runner = runner_factory()
    outcome = analyse(runner, path)
    published = query(
        runner, f"SELECT {column} FROM {outcome.table_name} WHERE epoch_s = ?", [T0 + 30]
    )
    assert published == [(None,)]
    others = query(
        runner,
        f"SELECT count({column}) FROM {outcome.table_name} WHERE epoch_s IN (?, ?)",
        [T0 + 20, T0 + 40],
    )
    assert others == [(2,)]
    assert outcome.summary["task_sentinel_values"] == 1 + 1  # that value + first GPUMemMB


def _default(field: str) -> np.ndarray:
    n = N_SAMPLES
    return {
        "RSS": np.full(n, 100_000, dtype=np.uint64),
        "VMSize": np.full(n, 200_000, dtype=np.uint64),
        "CPUUtilization": np.full(n, 99.0),
        "CPUFrequency": np.full(n, 2_400_000, dtype=np.uint64),
    }[field]


def test_negative_deltas_are_null_not_subtracted(runner_factory, tmp_path):
    cpu = np.array([0.0, 9.9, -1e6, 9.9, 9.9, 9.9])
    task = TaskSeries(epochs=EPOCHS, fields={"CPUTime": cpu})
    path = write_job_file(tmp_path, job_id=44, steps=[StepSpec("0", [node("n1", 0, {0: task})])])
    runner = runner_factory()
    outcome = analyse(runner, path)
    assert outcome.summary["cpu_time_s"] == pytest.approx(4 * 9.9)
    assert outcome.summary["task_sentinel_values"] == 1


def test_a_job_without_sentinels_counts_zero(runner_factory, tmp_path):
    task = TaskSeries(epochs=EPOCHS)
    path = write_job_file(tmp_path, job_id=45, steps=[StepSpec("0", [node("n1", 0, {0: task})])])
    outcome = analyse(runner_factory(), path)
    assert outcome.summary["task_sentinel_values"] == 0
