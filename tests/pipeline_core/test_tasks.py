"""Task aggregation over ranks on tiny tables: what each column of job_<stem> means."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from analysis_module.pipeline_core.tasks import _sum_per_epoch, aggregate_tasks


def tasks_table(rows: list[tuple]) -> pa.Table:
    """rows: (rank, epoch, cpu_time_s, cpu_util_pct, rss_kib, read_mib)"""
    rank, epoch, cpu, util, rss, read = zip(*rows, strict=True)
    n = len(rows)
    return pa.table(
        {
            "rank": pa.array(rank, pa.int32()),
            "epoch_s": pa.array(epoch, pa.int64()),
            "elapsed_s": pa.array(np.array(epoch) - epoch[0], pa.int64()),
            "cpu_frequency": pa.array([2_600_000] * n, pa.uint64()),  # kHz from sysfs
            "cpu_time_s": pa.array(cpu, pa.float64()),
            "cpu_util_pct": pa.array(util, pa.float64()),
            "rss_kib": pa.array(rss, pa.uint64()),
            "vmsize_kib": pa.array(rss, pa.uint64()),
            "read_mib": pa.array(read, pa.float64()),
            "write_mib": pa.array([0.0] * n, pa.float64()),
        }
    )


ROWS = [
    # rank 1 listed first: order in the file must not matter
    (1, 100, 0.0, 0.0, 2048, 0.0),
    (1, 130, 15.0, 50.0, 4096, 3.0),
    (0, 100, 0.0, 0.0, 1024, 0.0),
    (0, 130, 30.0, 100.0, 1024, 1.0),
    (0, 160, 30.0, 100.0, 1024, 1.0),
    (0, 160, 0.5, 0.0, 0, 0.5),  # an exit poll at the same second: delta added, gauge ignored
]


@pytest.mark.parametrize("epoch_offset", [0, 10**9])
def test_ranks_are_summed_per_sample_and_exit_polls_folded(epoch_offset):
    rows = [(r, e + epoch_offset * (e == 160), *rest) for r, e, *rest in ROWS]
    agg = aggregate_tasks(tasks_table(rows))
    last = 160 + epoch_offset * 1
    assert list(agg.epoch_s) == [100, 130, last]
    assert list(agg.columns["n_tasks_sampled"]) == [2, 2, 1]
    assert agg.columns["cpu_util_pct"][1] == 150.0
    assert agg.columns["cpu_time_s"][2] == 30.5
    assert agg.columns["rss_mib"][0] == pytest.approx(3.0)  # (1024 + 2048) KiB
    assert agg.columns["rss_mib"][2] == pytest.approx(1.0)  # the regular poll, not the exit one
    assert agg.columns["cpu_frequency_mhz"][0] == pytest.approx(2600.0)
    f = agg.figures
    assert f.cpu_time_s == 75.5 and f.read_mib == 5.5 and f.n_tasks == 2
    assert f.max_rss_mib == pytest.approx(4.0)
    assert f.task_wall_s == (last - 100) + 30


def test_sums_per_epoch_are_reduceats_sums() -> None:
    """Summing only the groups of several rows changes no bit, signed zeros included."""
    rng = np.random.default_rng(3)
    for _ in range(500):
        n = int(rng.integers(1, 120))
        values = rng.choice([np.nan, -0.0, 0.1, 1.0 / 3, 1e16, -2.5, 7.0], n)
        cuts = rng.choice(np.arange(1, n), size=int(rng.integers(0, n)), replace=False)
        starts = np.concatenate([[0], np.sort(cuts)]).astype(np.int64)
        finite = ~np.isnan(values)
        expected = np.add.reduceat(np.where(finite, values, 0.0), starts)
        expected[np.add.reduceat(finite, starts) == 0] = np.nan
        assert _sum_per_epoch(values, starts).tobytes() == expected.tobytes()
