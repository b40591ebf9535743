"""Energy figures of one series and their combination into step, node and job rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from analysis_module.pipeline_core.appliances import compare_to_appliance
from analysis_module.pipeline_core.factors import PiecewiseConstant, apply_factor
from analysis_module.pipeline_core.integrate import Integration
from analysis_module.pipeline_core.node_energy import PowerSeries
from analysis_module.pipeline_core.peak import peak_power
from analysis_module.pipeline_core.tasks import TaskFigures
from analysis_module.pipeline_core.units import JOULES_PER_KWH

NO_VALID_POWER = (
    "energy unknown: no interval between two valid power samples "
    "(all samples missing, implausible or too far apart)"
)


@dataclass
class FactorOutcome:
    total: float | None
    note: str | None
    per_interval: np.ndarray | None = None


@dataclass
class EnergyFigures:
    """What one power series (a step on a node, or a node over the job) contributes."""

    energy_j: float
    integrated_s: float
    gap_intervals: int
    gap_samples: int
    cost: FactorOutcome
    co2: FactorOutcome
    components_j: dict[str, float] = field(default_factory=dict)
    first_epoch: int | None = None
    last_epoch: int | None = None


def apply_optional_factor(
    integration: Integration,
    factor: PiecewiseConstant | None,
    *,
    joules_per_unit: float,
    missing_note: str,
) -> FactorOutcome:
    """Cost or CO2 of every interval; `missing_note` explains a null when nothing is set."""
    if factor is None:
        return FactorOutcome(None, missing_note)
    result = apply_factor(
        integration.interval_start_s,
        integration.interval_end_s,
        integration.interval_energy_j,
        factor,
        joules_per_unit=joules_per_unit,
    )
    return FactorOutcome(result.total, result.reason, result.per_interval)


def _sum_outcomes(outcomes: Sequence[FactorOutcome]) -> FactorOutcome:
    if not outcomes:
        return FactorOutcome(None, "no energy recorded")
    missing = [o.note for o in outcomes if o.total is None]
    if missing:
        return FactorOutcome(None, missing[0])
    return FactorOutcome(float(sum(o.total for o in outcomes)), None)


def _span(*pairs: tuple[int | None, int | None]) -> tuple[int | None, int | None]:
    firsts = [a for a, _ in pairs if a is not None]
    lasts = [b for _, b in pairs if b is not None]
    return (min(firsts) if firsts else None, max(lasts) if lasts else None)


def metrics_row(
    energy: Sequence[EnergyFigures],
    series: Sequence[PowerSeries],
    tasks: TaskFigures | None,
    *,
    n_nodes: int,
    n_steps: int,
    n_tasks: int,
    pue: float | None,
    other_spans: Sequence[tuple[int | None, int | None]] = (),
) -> dict:
    """One row of METRIC_FIELDS for any level (docs/energy-metrics.md section 4).

    `other_spans` are the (first, last) EpochTimes of the level's Network and Filesystem
    series: time-to-solution spans every series of the job.
    """
    first, last = _span(
        *((e.first_epoch, e.last_epoch) for e in energy),
        (tasks.first_epoch, tasks.last_epoch) if tasks else (None, None),
        *other_spans,
    )
    tts = float(last - first) if first is not None else None
    row: dict = {
        "has_energy": bool(energy),
        "power_source": _distinct(s.selection.power_source for s in series),
        "energy_scope": _distinct(s.selection.energy_scope for s in series),
        "n_nodes": n_nodes,
        "n_steps": n_steps,
        "n_tasks": n_tasks,
        "start_time": first,
        "end_time": last,
        "time_to_solution_s": tts,
        "peak_power_w": None,
        "peak_power_epoch": None,
    }
    row.update(_energy_columns(energy, tts, pue, n_nodes))
    if series:
        peak_w, peak_epoch = peak_power([(s.epoch_s, s.watts) for s in series])
        row["peak_power_w"], row["peak_power_epoch"] = peak_w, peak_epoch
    row.update(_task_columns(tasks))
    return row


def _energy_columns(
    energy: Sequence[EnergyFigures], tts: float | None, pue: float | None, n_nodes: int
):
    if not energy:
        return _no_energy("no energy recorded")
    if not any(e.integrated_s > 0 for e in energy):
        # Energy series exist but no interval has valid samples at both ends: unknown, not 0 J
        gaps = _no_energy(NO_VALID_POWER)
        gaps["gap_samples"] = sum(e.gap_samples for e in energy)
        gaps["gap_intervals"] = sum(e.gap_intervals for e in energy)
        gaps["coverage"] = 0.0 if tts else None
        return gaps
    energy_j = float(sum(e.energy_j for e in energy))
    integrated_s = sum(e.integrated_s for e in energy)
    cost, co2 = _sum_outcomes([e.cost for e in energy]), _sum_outcomes([e.co2 for e in energy])
    components: dict[str, float] = {}
    for e in energy:
        for name, joules in e.components_j.items():
            components[name] = components.get(name, 0.0) + joules
    appliance, appliance_s = compare_to_appliance(energy_j)
    return {
        "energy_j": energy_j,
        "energy_kwh": energy_j / JOULES_PER_KWH,
        "avg_power_w": energy_j / tts if tts else None,
        "edp_js": energy_j * tts if tts is not None else None,
        # A node that recorded no Energy at all is uncovered too (section 4: nodes x duration).
        "coverage": min(1.0, integrated_s / (max(n_nodes, len(energy)) * tts)) if tts else None,
        "gap_samples": sum(e.gap_samples for e in energy),
        "gap_intervals": sum(e.gap_intervals for e in energy),
        "component_energy_json": json.dumps(components, sort_keys=True) if components else None,
        "facility_energy_j": energy_j * pue if pue else None,
        "cost_eur": cost.total,
        "cost_note": cost.note,
        "co2_g": co2.total,
        "co2_note": co2.note,
        "appliance": appliance,
        "appliance_duration_s": appliance_s,
    }


def _no_energy(reason: str) -> dict:
    """Energy columns of a level whose energy is unknown; the notes say why."""
    return {
        "energy_j": None,
        "energy_kwh": None,
        "avg_power_w": None,
        "edp_js": None,
        "coverage": None,
        "gap_samples": None,
        "gap_intervals": None,
        "component_energy_json": None,
        "facility_energy_j": None,
        "cost_eur": None,
        "cost_note": reason,
        "co2_g": None,
        "co2_note": reason,
        "appliance": None,
        "appliance_duration_s": None,
    }


def _task_columns(tasks: TaskFigures | None) -> dict:
    if tasks is None:
        return dict.fromkeys(
            (
                "cpu_time_s",
                "max_rss_mib",
                "read_mib",
                "write_mib",
                "mean_cpu_util_pct",
                "task_sentinel_values",
            )
        )
    return {
        "cpu_time_s": tasks.cpu_time_s,
        "max_rss_mib": tasks.max_rss_mib,
        "read_mib": tasks.read_mib,
        "write_mib": tasks.write_mib,
        "mean_cpu_util_pct": tasks.mean_cpu_util_pct,
        "task_sentinel_values": tasks.sentinel_values,
    }


def _distinct(values) -> str | None:
    seen = sorted({v for v in values if v})
    return ",".join(seen) if seen else None
