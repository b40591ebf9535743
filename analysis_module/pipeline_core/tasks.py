"""Task series of one step on one node: per-sample aggregates over ranks and job-level figures.

Slurm's Tasks tables end with extra rows at the same EpochTime (every task exit polls the
others). Within one (rank, EpochTime) the per-interval deltas (CPUTime, ReadMB, WriteMB) are
summed, because each row is a delta since the previous poll; gauges and rates (RSS, VMSize,
CPUUtilization, CPUFrequency, GPU fields) come from the group's first row, the regular poll.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

KIB_PER_MIB = 1024.0
KHZ_THRESHOLD = 100_000  # CPUFrequency above this is kHz (sysfs), below it MHz (/proc/cpuinfo)
GPU_MEM_CEILING_MIB = 1e7  # larger values are uninitialised memory, not a GPU (spec section 3)

DELTA_COLUMNS = ("cpu_time_s", "read_mib", "write_mib")
FIRST_ROW_COLUMNS = (
    "cpu_util_pct",
    "cpu_frequency",
    "rss_kib",
    "vmsize_kib",
    "gpu_util_pct",
    "gpu_mem_mib",
)


@dataclass
class TaskFigures:
    """Totals of some task samples; sums over steps and nodes stay meaningful."""

    cpu_time_s: float = 0.0
    read_mib: float = 0.0
    write_mib: float = 0.0
    max_rss_mib: float | None = None  # largest RSS of any single task, as sacct's MaxRSS
    task_wall_s: float = 0.0  # sum over tasks of (last - first sample time)
    first_epoch: int | None = None
    last_epoch: int | None = None
    n_tasks: int = 0

    def plus(self, other: TaskFigures) -> TaskFigures:
        def pick(fn, a, b):
            values = [v for v in (a, b) if v is not None]
            return fn(values) if values else None

        return TaskFigures(
            cpu_time_s=self.cpu_time_s + other.cpu_time_s,
            read_mib=self.read_mib + other.read_mib,
            write_mib=self.write_mib + other.write_mib,
            max_rss_mib=pick(max, self.max_rss_mib, other.max_rss_mib),
            task_wall_s=self.task_wall_s + other.task_wall_s,
            first_epoch=pick(min, self.first_epoch, other.first_epoch),
            last_epoch=pick(max, self.last_epoch, other.last_epoch),
            n_tasks=self.n_tasks + other.n_tasks,
        )

    @property
    def mean_cpu_util_pct(self) -> float | None:
        """CPU time over the tasks' wall time: a time-weighted mean utilisation."""
        return 100.0 * self.cpu_time_s / self.task_wall_s if self.task_wall_s > 0 else None


@dataclass
class TaskSamples:
    """Aggregates over all ranks at each EpochTime of one step on one node."""

    epoch_s: np.ndarray
    elapsed_s: np.ndarray
    columns: dict[str, np.ndarray]  # JOB_TIMESERIES task columns, float64 with NaN
    figures: TaskFigures


def _column(table: pa.Table, name: str) -> np.ndarray | None:
    if name not in table.column_names:
        return None
    return table.column(name).to_numpy().astype(np.float64, copy=False)


def _group_starts(sorted_keys: list[np.ndarray]) -> np.ndarray:
    change = np.zeros(len(sorted_keys[0]), dtype=bool)
    change[0] = True
    for key in sorted_keys:
        change[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(change)


def aggregate_tasks(table: pa.Table) -> TaskSamples | None:
    """Vectorised: group rows by (rank, epoch), then by epoch over ranks."""
    if table is None or table.num_rows == 0:
        return None
    rank = table.column("rank").to_numpy()
    epoch = table.column("epoch_s").to_numpy()
    elapsed = table.column("elapsed_s").to_numpy()
    order = np.lexsort((np.arange(len(epoch)), epoch, rank))
    rank_s, epoch_s = rank[order], epoch[order]
    starts = _group_starts([rank_s, epoch_s])

    values = {}
    for name in DELTA_COLUMNS:
        raw = _column(table, name)
        values[name] = np.add.reduceat(raw[order], starts) if raw is not None else None
    for name in FIRST_ROW_COLUMNS:
        raw = _column(table, name)
        values[name] = raw[order][starts] if raw is not None else None
    g_rank, g_epoch, g_elapsed = rank_s[starts], epoch_s[starts], elapsed[order][starts]
    _blank_unreliable_gpu_memory(values, g_rank)

    figures = _figures(g_rank, g_epoch, values)
    epochs, inverse = np.unique(g_epoch, return_inverse=True)
    counts = np.bincount(inverse)

    def total(name, scale=1.0):
        if values[name] is None:
            return np.full(len(epochs), np.nan)
        finite = np.nan_to_num(values[name], nan=0.0)
        sums = np.bincount(inverse, weights=finite, minlength=len(epochs)) / scale
        seen = np.bincount(inverse, weights=~np.isnan(values[name]), minlength=len(epochs))
        return np.where(seen > 0, sums, np.nan)

    freq = values["cpu_frequency"]
    freq_scale = 1000.0 if freq is not None and np.nanmedian(freq) > KHZ_THRESHOLD else 1.0
    first_elapsed = np.full(len(epochs), np.iinfo(np.int64).max)
    np.minimum.at(first_elapsed, inverse, g_elapsed)
    columns = {
        "n_tasks_sampled": counts.astype(np.int32),
        "cpu_util_pct": total("cpu_util_pct"),
        "cpu_time_s": total("cpu_time_s"),
        "cpu_frequency_mhz": total("cpu_frequency", freq_scale) / counts,
        "rss_mib": total("rss_kib", KIB_PER_MIB),
        "vmsize_mib": total("vmsize_kib", KIB_PER_MIB),
        "read_mib": total("read_mib"),
        "write_mib": total("write_mib"),
        "gpu_util_pct": total("gpu_util_pct"),
        "gpu_mem_mib": total("gpu_mem_mib"),
    }
    return TaskSamples(epochs, first_elapsed, columns, figures)


def _blank_unreliable_gpu_memory(values: dict, g_rank: np.ndarray) -> None:
    """GPUMemMB is not written on a task's first record and is garbage when untracked."""
    mem = values.get("gpu_mem_mib")
    if mem is None:
        return
    mem = mem.copy()
    first_of_rank = np.ones(len(g_rank), dtype=bool)
    first_of_rank[1:] = g_rank[1:] != g_rank[:-1]
    mem[first_of_rank | (mem > GPU_MEM_CEILING_MIB) | (mem < 0)] = np.nan
    values["gpu_mem_mib"] = mem


def _figures(g_rank: np.ndarray, g_epoch: np.ndarray, values: dict) -> TaskFigures:
    rank_starts = _group_starts([g_rank])
    rank_ends = np.append(rank_starts[1:], len(g_rank)) - 1
    wall = float(np.sum(g_epoch[rank_ends] - g_epoch[rank_starts]))

    def total(name):
        return float(np.nansum(values[name])) if values[name] is not None else 0.0

    rss = values["rss_kib"]
    return TaskFigures(
        cpu_time_s=total("cpu_time_s"),
        read_mib=total("read_mib"),
        write_mib=total("write_mib"),
        max_rss_mib=float(np.nanmax(rss)) / KIB_PER_MIB if rss is not None else None,
        task_wall_s=wall,
        first_epoch=int(g_epoch.min()),
        last_epoch=int(g_epoch.max()),
        n_tasks=len(rank_starts),
    )
