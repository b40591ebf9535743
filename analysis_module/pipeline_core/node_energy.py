"""A node's power signal: chosen, cleaned and de-duplicated, then integrated.

Definitions: docs/energy-metrics.md sections 1-3."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from analysis_module.pipeline_core.epochs import drop_invalid_times
from analysis_module.pipeline_core.integrate import (
    Integration,
    integrate_power,
    sum_interval_energy,
)
from analysis_module.pipeline_core.power import (
    PowerSelection,
    clean_power,
    dedupe_by_epoch,
    select_power_source,
    sum_power_fields,
)

TIME_COLUMNS = {"step", "node", "elapsed_s", "epoch_s"}


@dataclass
class PowerSeries:
    """One node's power samples, sorted by unique EpochTime, gaps as NaN."""

    selection: PowerSelection
    epoch_s: np.ndarray  # int64
    elapsed_s: np.ndarray  # int64
    watts: np.ndarray  # float64, node-level power (xcc: CurrPower)
    interval_joules: np.ndarray | None  # xcc only: joules of the interval ending at each sample
    components: dict[str, np.ndarray] = field(default_factory=dict)
    gap_samples: int = 0

    def __len__(self) -> int:
        return len(self.epoch_s)


def _clean(column: pa.ChunkedArray, ceiling_w: float | None) -> tuple[np.ndarray, int]:
    cleaned = clean_power(column.to_numpy(), ceiling_w=ceiling_w)
    return cleaned.watts, cleaned.n_sentinel + cleaned.n_implausible + cleaned.n_nonfinite


def power_series_from_table(
    table: pa.Table, *, ceiling_w: float, power_plugin: str | None = None
) -> PowerSeries | None:
    """Pick the node-level source of one Energy table and clean it; None when it has none.

    Rows whose EpochTime is no real time (0, negative, sentinels, past year 9999) are dropped
    and counted as gap samples.
    """
    fields = [name for name in table.column_names if name not in TIME_COLUMNS]
    selection = select_power_source(fields, power_plugin=power_plugin)
    table, n_bad_times = drop_invalid_times(table)
    if selection.kind == "none" or table.num_rows == 0:
        return None
    gap_samples = 0
    if selection.kind == "gpu_sum":
        parts = [_clean(table.column(name), ceiling_w) for name in selection.power_fields]
        watts = sum_power_fields([p[0] for p in parts])
        gap_samples = int(np.count_nonzero(np.isnan(watts)))
    elif selection.power_fields:
        watts, gap_samples = _clean(table.column(selection.power_fields[0]), ceiling_w)
    else:  # xcc without CurrPower: energy from its joules, no instantaneous power
        watts = np.full(table.num_rows, np.nan)
    interval_joules = None
    if selection.energy_field is not None:
        interval_joules, energy_gaps = _clean(table.column(selection.energy_field), None)
        gap_samples = max(gap_samples, energy_gaps)
    gap_samples += n_bad_times  # samples at an impossible time are gaps too
    components = {
        name: _clean(table.column(name), ceiling_w)[0] for name in selection.component_fields
    }
    epoch = table.column("epoch_s").to_numpy()
    elapsed = table.column("elapsed_s").to_numpy()
    return _dedupe(selection, epoch, elapsed, watts, interval_joules, components, gap_samples)


def _dedupe(selection, epoch, elapsed, watts, interval_joules, components, gap_samples):
    names = list(components)
    extra = [interval_joules] if interval_joules is not None else []
    columns = [elapsed, watts, *extra, *(components[n] for n in names)]
    epoch_u, elapsed_u, watts_u, *rest = dedupe_by_epoch(epoch, *columns)
    joules_u = rest.pop(0) if interval_joules is not None else None
    return PowerSeries(
        selection=selection,
        epoch_s=epoch_u,
        elapsed_s=elapsed_u,
        watts=watts_u,
        interval_joules=joules_u,
        components=dict(zip(names, rest, strict=True)),
        gap_samples=gap_samples,
    )


def merge_series(parts: Sequence[PowerSeries]) -> PowerSeries:
    """A node's samples over all its steps: the same sensor, so one series (section 2)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    names = [n for n in first.components if all(n in p.components for p in parts)]
    has_joules = all(p.interval_joules is not None for p in parts)

    def cat(values):
        return np.concatenate(list(values))

    return _dedupe(
        first.selection,
        cat(p.epoch_s for p in parts),
        cat(p.elapsed_s for p in parts),
        cat(p.watts for p in parts),
        cat(p.interval_joules for p in parts) if has_joules else None,
        {n: cat(p.components[n] for p in parts) for n in names},
        sum(p.gap_samples for p in parts),
    )


def integrate_series(
    series: PowerSeries, *, rule: str, gap_factor: float, max_interval_s: float | None = None
) -> Integration:
    """Energy of the series: xcc's interval joules are summed, power is integrated."""
    if series.interval_joules is not None:
        return sum_interval_energy(
            series.epoch_s,
            series.interval_joules,
            gap_factor=gap_factor,
            max_interval_s=max_interval_s,
        )
    return integrate_power(
        series.epoch_s,
        series.watts,
        rule=rule,
        gap_factor=gap_factor,
        max_interval_s=max_interval_s,
    )


def component_energy(
    series: PowerSeries, *, rule: str, gap_factor: float, max_interval_s: float | None = None
) -> dict[str, float]:
    """Energy of each component sensor (sockets, GPUs beside a node sensor), never added in."""
    gaps = {"rule": rule, "gap_factor": gap_factor, "max_interval_s": max_interval_s}
    return {
        name: integrate_power(series.epoch_s, watts, **gaps).energy_j
        for name, watts in series.components.items()
    }
