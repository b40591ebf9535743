"""Which task values are Slurm sentinels or impossible, and how the aggregate counts them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from analysis_module.pipeline_core.task_sentinels import sentinel_mask
from analysis_module.pipeline_core.tasks import aggregate_tasks

NO_VAL = 4294967294


@pytest.mark.parametrize(
    "value",
    [NO_VAL, 2 * NO_VAL, 4294967295, 2**44 - 1, 2**64 - 2, 2**64 - 1],
)
def test_integer_sentinels_are_missing(value):
    assert sentinel_mask("rss_kib", np.array([value], dtype=np.uint64)).tolist() == [True]


@pytest.mark.parametrize("value", [0, 1, 4096, 4294967293, 2**33, 2**40])
def test_plausible_integers_are_kept(value):
    assert sentinel_mask("rss_kib", np.array([value], dtype=np.uint64)).tolist() == [False]


@pytest.mark.parametrize(
    ("name", "value", "missing"),
    [
        ("gpu_util_pct", 1.8446744073709552e19, True),
        ("gpu_util_pct", 85.0, False),
        ("gpu_util_pct", 800.0, False),  # eight busy GPUs
        ("gpu_util_pct", 6401.0, True),
        ("gpu_util_pct", 5e-324, True),  # integer bits read as a double
        ("gpu_util_pct", float("inf"), True),
        ("cpu_util_pct", float(NO_VAL), True),
        ("cpu_util_pct", 12_800.0, False),  # 128 busy cores
        ("cpu_time_s", -0.5, True),
        ("cpu_time_s", 0.0, False),
        ("read_mib", 3.0 * NO_VAL, True),
    ],
)
def test_doubles(name, value, missing):
    assert sentinel_mask(name, np.array([value])).tolist() == [missing]


def test_gpu_memory_above_a_node_is_missing():
    values = np.array([4096, 2**34, 2**34 + 1], dtype=np.uint64)
    assert sentinel_mask("gpu_mem_mib", values).tolist() == [False, False, True]


def test_cpu_frequency_is_judged_in_mhz():
    assert sentinel_mask("cpu_frequency", np.array([2300, 12_000], np.uint64)).tolist() == [
        False,
        True,
    ]
    khz = np.array([2_300_000, 12_000_000], np.uint64)
    assert sentinel_mask("cpu_frequency", khz, frequency_scale=1000.0).tolist() == [False, True]


def task_rows(gpu_util: list[float], gpu_mem: list[int]) -> pa.Table:
    n = len(gpu_util)
    epoch = 100 + 10 * np.arange(n)
    return pa.table(
        {
            "rank": pa.array([0] * n, pa.int32()),
            "epoch_s": pa.array(epoch, pa.int64()),
            "elapsed_s": pa.array(epoch - 100, pa.int64()),
            "cpu_frequency": pa.array([2300] * n, pa.uint64()),
            "cpu_time_s": pa.array([0.0] + [9.0] * (n - 1), pa.float64()),
            "cpu_util_pct": pa.array([0.0] + [90.0] * (n - 1), pa.float64()),
            "rss_kib": pa.array([2048] * n, pa.uint64()),
            "vmsize_kib": pa.array([0] * n, pa.uint64()),  # cgroup v2 does not report it
            "read_mib": pa.array([0.0] * n, pa.float64()),
            "write_mib": pa.array([0.0] * n, pa.float64()),
            "gpu_util_pct": pa.array(gpu_util, pa.float64()),
            "gpu_mem_mib": pa.array(gpu_mem, pa.uint64()),
        }
    )


def test_an_untracked_gpu_task_is_all_missing_and_counted():
    table = task_rows([0.0, 2.0**64, 2.0**64], [0x7F3A9C001D40, 2**44 - 1, 2**44 - 1])
    samples = aggregate_tasks(table)
    assert np.isnan(samples.columns["gpu_util_pct"]).all()
    assert np.isnan(samples.columns["gpu_mem_mib"]).all()
    assert samples.figures.sentinel_values == 6 + 3  # and VMSize, 0 throughout
    assert np.isnan(samples.columns["vmsize_mib"]).all()
    assert samples.columns["cpu_frequency_mhz"].tolist() == [2300.0] * 3
    assert samples.figures.max_rss_mib == 2.0


def test_a_tracked_gpu_keeps_its_values_and_its_first_zero():
    samples = aggregate_tasks(task_rows([0.0, 85.0, 85.0], [123456789, 4096, 4096]))
    assert samples.columns["gpu_util_pct"].tolist() == [0.0, 85.0, 85.0]
    assert samples.columns["gpu_mem_mib"][1:].tolist() == [4096.0, 4096.0]
    assert np.isnan(samples.columns["gpu_mem_mib"][0])
    assert samples.figures.sentinel_values == 1 + 3  # the first GPUMemMB, VMSize 0
