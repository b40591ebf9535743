"""Rows of a `job_<stem>` table for one step on one node (schema JOB_TIMESERIES)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analysis_module.pipeline_core.factors import PiecewiseConstant
from analysis_module.pipeline_core.figures import EnergyFigures, FactorOutcome
from analysis_module.pipeline_core.integrate import Integration
from analysis_module.pipeline_core.node_energy import PowerSeries
from analysis_module.pipeline_core.schema import JOB_TIMESERIES
from analysis_module.pipeline_core.tasks import TaskSamples

TASK_COLUMNS = (
    "n_tasks_sampled",
    "cpu_util_pct",
    "cpu_time_s",
    "cpu_frequency_mhz",
    "rss_mib",
    "vmsize_mib",
    "read_mib",
    "write_mib",
    "gpu_util_pct",
    "gpu_mem_mib",
)


def values_at(factor: PiecewiseConstant | None, epoch_s: np.ndarray) -> np.ndarray:
    """The factor's value valid at each time, NaN outside its intervals."""
    if factor is None or len(factor.start_s) == 0:
        return np.full(len(epoch_s), np.nan)
    index = np.searchsorted(factor.start_s, epoch_s, side="right") - 1
    safe = np.clip(index, 0, len(factor.start_s) - 1)
    inside = (index >= 0) & (epoch_s < factor.end_s[safe])
    return np.where(inside, factor.value[safe], np.nan)


def _cumulative(outcome: FactorOutcome | None, n: int) -> np.ndarray:
    """Running total at each sample; NaN from the first interval no factor covers."""
    if outcome is None or outcome.per_interval is None:
        return np.full(n, np.nan)
    return np.concatenate([[0.0], np.cumsum(outcome.per_interval)])


class _Spread:
    """Values at ``epochs`` placed on the rows of ``union`` (NaN elsewhere); the positions are
    searched once per source, and not at all when the source has every row."""

    def __init__(self, union: np.ndarray, epochs: np.ndarray) -> None:
        self.n = len(union)
        every_row = epochs is union or np.array_equal(epochs, union)
        self.rows = None if every_row else np.searchsorted(union, epochs)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        if self.rows is None:
            return np.array(values, dtype=np.float64)
        out = np.full(self.n, np.nan)
        out[self.rows] = values
        return out


def _union(parts: list[np.ndarray]) -> np.ndarray:
    """Sorted unique epochs of both sources; the one array itself when they agree (Energy and
    Tasks sampled at the same seconds), as ``np.union1d`` would return it."""
    if len(parts) == 1:
        return parts[0]
    first, second = parts
    same = first.dtype == second.dtype and np.array_equal(first, second)
    if same and bool(np.all(first[1:] > first[:-1])):
        return first
    return np.union1d(first, second)


def _constant_strings(value: str, n: int) -> pa.Array:
    return pc.take(pa.array([value], pa.string()), pa.array(np.zeros(n, dtype=np.int32)))


def timeseries_table(
    step: str,
    node: str,
    series: PowerSeries | None,
    integration: Integration | None,
    figures: EnergyFigures | None,
    price: PiecewiseConstant | None,
    carbon: PiecewiseConstant | None,
    tasks: TaskSamples | None,
) -> pa.Table | None:
    """Full outer join of power and task aggregates on EpochTime within one step and node."""
    parts = [a.epoch_s for a in (series, tasks) if a is not None and len(a.epoch_s)]
    if not parts:
        return None
    union = _union(parts)
    n = len(union)
    columns: dict[str, np.ndarray] = {}
    elapsed = np.full(n, np.nan)
    if tasks is not None:
        spread = _Spread(union, tasks.epoch_s)
        elapsed = spread(tasks.elapsed_s)
        for name in TASK_COLUMNS:
            columns[name] = spread(tasks.columns[name])
    if series is not None:
        spread = _Spread(union, series.epoch_s)
        # Energy's ElapsedTime wins where both exist: it is the step's own clock too.
        elapsed = np.where(np.isnan(e := spread(series.elapsed_s)), elapsed, e)
        columns["power_w"] = spread(series.watts)
        columns["energy_j"] = spread(integration.cumulative_energy_j)
        m = len(series.epoch_s)
        columns["cost_eur"] = spread(_cumulative(figures.cost, m))
        columns["co2_g"] = spread(_cumulative(figures.co2, m))
        columns["price_eur_per_mwh"] = spread(values_at(price, series.epoch_s))
        columns["carbon_g_per_kwh"] = spread(values_at(carbon, series.epoch_s))
    arrays = []
    for field in JOB_TIMESERIES:
        name = field.name
        if name in ("step", "node"):
            arrays.append(_constant_strings(step if name == "step" else node, n))
        elif name == "time":
            arrays.append(pa.array(union * 1_000_000, pa.int64()).cast(field.type))
        elif name == "epoch_s":
            arrays.append(pa.array(union, pa.int64()))
        elif name == "elapsed_s":
            arrays.append(pa.array(elapsed, from_pandas=True).cast(pa.int64()))
        elif name in columns:
            arrays.append(pa.array(columns[name], from_pandas=True).cast(field.type))
        else:
            arrays.append(pa.nulls(n, field.type))
    return pa.Table.from_arrays(arrays, schema=JOB_TIMESERIES)
