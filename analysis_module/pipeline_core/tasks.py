"""Task series of one step on one node: per-sample aggregates over ranks and job-level figures.

Slurm's Tasks tables end with extra rows at the same EpochTime (every task exit polls the
others). Within one (rank, EpochTime) the per-interval deltas (CPUTime, ReadMB, WriteMB) are
summed, because each row is a delta since the previous poll; gauges and rates (RSS, VMSize,
CPUUtilization, CPUFrequency, GPU fields) come from the group's first row, the regular poll.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from analysis_module.pipeline_core.task_sentinels import GPU_COLUMNS, cleaned, untracked_gpu

KIB_PER_MIB = 1024.0
KHZ_THRESHOLD = 100_000  # CPUFrequency above this is kHz (sysfs), below it MHz (/proc/cpuinfo)

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
    sentinel_values: int = 0  # task values that were no measurements, published as nulls

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
            sentinel_values=self.sentinel_values + other.sentinel_values,
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


def _numpy(table: pa.Table, name: str) -> np.ndarray | None:
    if name not in table.column_names:
        return None
    return table.column(name).to_numpy()  # zero-copy for a single-chunk column without nulls


def _sorted(values: np.ndarray) -> bool:
    return bool(np.all(values[1:] >= values[:-1]))


class _EpochGrid:
    """Accumulators indexed by EpochTime; dense over the span when it is compact."""

    def __init__(self, epoch: np.ndarray):
        self.low = int(epoch.min())
        span = int(epoch.max()) - self.low + 1
        # Whole-second samples make the span about the row count; wild clocks fall back.
        self.unique = None if span <= 4 * len(epoch) + 1024 else np.unique(epoch)
        size = span if self.unique is None else len(self.unique)
        self.count = np.zeros(size, dtype=np.int64)
        self.first_elapsed = np.full(size, np.iinfo(np.int64).max)
        self.sums = {name: np.zeros(size) for name in (*DELTA_COLUMNS, *FIRST_ROW_COLUMNS)}
        self.seen = {name: np.zeros(size, dtype=np.int64) for name in self.sums}

    def index(self, epochs: np.ndarray) -> np.ndarray | slice:
        """Cells of one rank's (sorted, unique) epochs; a slice when they are consecutive
        cells (a rank sampled every second), which indexes the same cells faster."""
        cells = epochs - self.low if self.unique is None else np.searchsorted(self.unique, epochs)
        if len(cells) and int(cells[-1]) - int(cells[0]) == len(cells) - 1:
            return slice(int(cells[0]), int(cells[-1]) + 1)
        return cells

    def add(self, index: np.ndarray, name: str, values: np.ndarray) -> None:
        # `index` is unique within one rank, so plain fancy-index addition is exact.
        finite = ~np.isnan(values)
        self.sums[name][index] += np.where(finite, values, 0.0)
        self.seen[name][index] += finite

    def epochs(self, present: np.ndarray) -> np.ndarray:
        return present + self.low if self.unique is None else self.unique[present]


def aggregate_tasks(table: pa.Table) -> TaskSamples | None:
    """One pass per rank: group its rows by epoch, then add them onto an epoch grid.

    Memory stays at one rank's rows plus the grid, whatever the number of ranks.
    """
    if table is None or table.num_rows == 0:
        return None
    rank = table.column("rank").to_numpy()
    if not _sorted(rank):
        table = table.take(np.argsort(rank, kind="stable"))
        rank = table.column("rank").to_numpy()
    epoch = table.column("epoch_s").to_numpy()
    elapsed = table.column("elapsed_s").to_numpy()
    raw = {name: _numpy(table, name) for name in (*DELTA_COLUMNS, *FIRST_ROW_COLUMNS)}
    freq_scale = _frequency_scale(raw["cpu_frequency"])
    grid = _EpochGrid(epoch)
    figures = TaskFigures()
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(rank)) + 1, [len(rank)]])
    for lo, hi in itertools.pairwise(bounds):
        rows = (epoch[lo:hi], elapsed[lo:hi], lo, hi)
        figures = figures.plus(_add_rank(grid, rows, raw, freq_scale))
    present = np.flatnonzero(grid.count)
    counts = grid.count[present]

    def total(name, scale=1.0):
        sums, seen = grid.sums[name][present], grid.seen[name][present]
        return np.where(seen > 0, sums / scale, np.nan)

    def mean(name, scale=1.0):
        seen = grid.seen[name][present]
        return total(name, scale) / np.maximum(seen, 1)

    columns = {
        "n_tasks_sampled": counts.astype(np.int32),
        "cpu_util_pct": total("cpu_util_pct"),
        "cpu_time_s": total("cpu_time_s"),
        "cpu_frequency_mhz": mean("cpu_frequency", freq_scale),
        "rss_mib": total("rss_kib", KIB_PER_MIB),
        "vmsize_mib": total("vmsize_kib", KIB_PER_MIB),
        "read_mib": total("read_mib"),
        "write_mib": total("write_mib"),
        "gpu_util_pct": total("gpu_util_pct"),
        "gpu_mem_mib": total("gpu_mem_mib"),
    }
    return TaskSamples(grid.epochs(present), grid.first_elapsed[present], columns, figures)


def _frequency_scale(freq: np.ndarray | None) -> float:
    """1000 when CPUFrequency is in kHz (sysfs), 1 when in MHz; sentinels do not vote."""
    if freq is None:
        return 1.0
    values = freq.astype(np.float64)
    values = values[np.isfinite(values) & (values < 2.0**32 - 2)]
    return 1000.0 if len(values) and np.median(values) > KHZ_THRESHOLD else 1.0


def _add_rank(grid, rows, raw, freq_scale) -> TaskFigures:
    """Adds one rank's rows to the grid; returns that task's own figures."""
    epoch, elapsed, lo, hi = rows
    order = None if _sorted(epoch) else np.argsort(epoch, kind="stable")
    if order is not None:
        epoch, elapsed = epoch[order], elapsed[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(epoch)) + 1])
    index = grid.index(epoch[starts])
    grid.count[index] += 1
    if isinstance(index, slice):
        cells = grid.first_elapsed[index]
        np.minimum(cells, elapsed[starts], out=cells)
    else:
        np.minimum.at(grid.first_elapsed, index, elapsed[starts])
    per_task, sentinels = {}, 0
    for name in (*DELTA_COLUMNS, *FIRST_ROW_COLUMNS):
        if raw[name] is None:
            per_task[name] = None
            continue
        stored = raw[name][lo:hi] if order is None else raw[name][lo:hi][order]
        if name in DELTA_COLUMNS:
            values, found = cleaned(name, stored)
            values = _sum_per_epoch(values, starts)
        else:
            values, found = cleaned(name, stored[starts], frequency_scale=freq_scale)
            found += _drop_unmeasured(name, values)
        sentinels += found
        grid.add(index, name, values)
        per_task[name] = values
    figures = _task_figures(epoch[starts], per_task)
    figures.sentinel_values = sentinels
    return figures


def _sum_per_epoch(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Deltas summed within each EpochTime; a sample with no valid delta stays missing.

    ``np.add.reduceat`` over the groups of several rows only: a group of one row is its row
    (as reduceat has it), and most groups are one row (exit polls add the others).
    """
    finite = ~np.isnan(values)
    summed = np.where(finite, values, 0.0)
    sums, valid = summed[starts], finite[starts]
    sizes = np.diff(starts, append=len(values))
    several = sizes > 1
    if several.any():
        rows = np.repeat(several, sizes)
        kept = sizes[several]
        offsets = np.cumsum(kept) - kept
        sums[several] = np.add.reduceat(summed[rows], offsets)
        valid[several] = np.add.reduceat(finite[rows], offsets) > 0
    sums[~valid] = np.nan
    return sums


def _drop_unmeasured(name: str, values: np.ndarray) -> int:
    """GPUMemMB is not written on a task's first record; a GPU field the node does not track
    is missing throughout, its first record's 0 included; a VMSize of 0 on every record is not
    measured (cgroup v2 does not report it). Returns how many values it dropped."""
    if name == "vmsize_kib" and len(values) and np.all(values == 0):
        values[:] = np.nan
        return len(values)
    if name not in GPU_COLUMNS:
        return 0
    dropped = 0
    if name == "gpu_mem_mib" and not np.isnan(values[0]):
        values[0], dropped = np.nan, 1
    if untracked_gpu(values) and not np.isnan(values[0]):
        values[0], dropped = np.nan, dropped + 1
    return dropped


def _task_figures(epochs: np.ndarray, values: dict) -> TaskFigures:
    def total(name):
        return float(np.nansum(values[name])) if values[name] is not None else 0.0

    rss = values["rss_kib"]
    return TaskFigures(
        cpu_time_s=total("cpu_time_s"),
        read_mib=total("read_mib"),
        write_mib=total("write_mib"),
        max_rss_mib=_largest(rss, KIB_PER_MIB),
        task_wall_s=float(epochs[-1] - epochs[0]),
        first_epoch=int(epochs[0]),
        last_epoch=int(epochs[-1]),
        n_tasks=1,
    )


def _largest(values: np.ndarray | None, scale: float) -> float | None:
    if values is None or np.all(np.isnan(values)):
        return None
    return float(np.nanmax(values)) / scale
