"""The compute stage: a power pass and resolved factors -> per-sample rows, per-step/per-node
figures and the job's summary.

Stages of one job (`app/runner.py` drives them): `power_pass` reads the Energy series (small)
and finds the job's window; the application resolves prices and carbon intensity for that
window; `compute_job` then integrates and prices every series, keeping totals only (pass 1),
and reads the Tasks of each (step, node) in turn, aggregates them over ranks, joins them to
that step's power on EpochTime and hands the rows to `write_rows` before the next pair is read
(pass 2 recomputes one series' per-interval arrays at a time). Memory stays bounded by one
(step, node) of task data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import pyarrow as pa
import pyarrow.compute as pc

from analysis_module.pipeline_core.epochs import drop_invalid_times
from analysis_module.pipeline_core.factors import PiecewiseConstant
from analysis_module.pipeline_core.figures import (
    EnergyFigures,
    FactorOutcome,
    apply_optional_factor,
    metrics_row,
)
from analysis_module.pipeline_core.inputs import AnalysisOptions, NodeStepLike, ProfileLike
from analysis_module.pipeline_core.node_energy import (
    PowerSeries,
    component_energy,
    integrate_series,
)
from analysis_module.pipeline_core.power_pass import PowerPass
from analysis_module.pipeline_core.tasks import TaskFigures, aggregate_tasks
from analysis_module.pipeline_core.timeseries import timeseries_table
from analysis_module.pipeline_core.units import JOULES_PER_KWH, JOULES_PER_MWH

__all__ = ["AnalysisOptions", "JobAnalysis", "ResolvedFactors", "compute_job"]

# Node samples up to which pass 1 keeps each series' per-interval arrays for pass 2 (a few
# MB of arrays); a bigger job recomputes them one series at a time.
KEEP_INTERVALS_SAMPLES = 100_000


@dataclass(frozen=True)
class ResolvedFactors:
    """Prices (EUR/MWh) and carbon intensity (g/kWh) over the job's window; None when unset."""

    price: PiecewiseConstant | None = None
    carbon: PiecewiseConstant | None = None


@dataclass
class JobAnalysis:
    job_id: str | None
    summary: dict  # METRIC_FIELDS of the whole job
    breakdown: list[dict]  # level, step, node + METRIC_FIELDS


def _figures(
    series: PowerSeries, options: AnalysisOptions, factors: ResolvedFactors
) -> tuple[EnergyFigures, object]:
    """(figures, integration) of one series; the figures keep per-interval cost and CO2."""
    integration = integrate_series(series, **_gaps(options))
    cost, co2 = _priced(integration, factors)
    figures = EnergyFigures(
        energy_j=integration.energy_j,
        integrated_s=integration.integrated_s,
        gap_intervals=integration.n_gap_intervals + integration.n_missing_intervals,
        gap_samples=series.gap_samples,
        cost=cost,
        co2=co2,
        components_j=component_energy(series, **_gaps(options)),
        first_epoch=int(series.epoch_s[0]) if len(series) else None,
        last_epoch=int(series.epoch_s[-1]) if len(series) else None,
    )
    return figures, integration


def _with_intervals(
    series: PowerSeries, options: AnalysisOptions, factors: ResolvedFactors, known: EnergyFigures
) -> tuple[EnergyFigures, object]:
    """``known`` (totals only) with its per-interval arrays computed again, and the
    integration: the same numbers as ``_figures``, without redoing the components."""
    integration = integrate_series(series, **_gaps(options))
    cost, co2 = _priced(integration, factors)
    return replace(known, cost=cost, co2=co2), integration


def _priced(integration, factors: ResolvedFactors) -> tuple[FactorOutcome, FactorOutcome]:
    cost = apply_optional_factor(
        integration,
        factors.price,
        joules_per_unit=JOULES_PER_MWH,
        missing_note="no price configured",
    )
    co2 = apply_optional_factor(
        integration,
        factors.carbon,
        joules_per_unit=JOULES_PER_KWH,
        missing_note="no carbon intensity configured",
    )
    return cost, co2


def _gaps(options: AnalysisOptions) -> dict:
    return {
        "rule": options.rule,
        "gap_factor": options.gap_factor,
        "max_interval_s": options.max_interval_s,
    }


def _totals_only(figures: EnergyFigures) -> EnergyFigures:
    """``figures`` without the per-interval cost and CO2 arrays: what the job's totals, the
    breakdown and prices need. Keeps memory to one series' arrays at a time, not every node's."""
    return replace(
        figures,
        cost=replace(figures.cost, per_interval=None),
        co2=replace(figures.co2, per_interval=None),
    )


@dataclass
class _Collected:
    """What both passes found, keyed by (step, node) or node; every level is built from it."""

    node_steps: Sequence[NodeStepLike]
    step_series: dict[tuple, PowerSeries]
    node_series: dict[str, PowerSeries]
    node_energy: dict[str, EnergyFigures]
    step_node_energy: dict[tuple, EnergyFigures] = field(default_factory=dict)
    step_node_tasks: dict[tuple, TaskFigures] = field(default_factory=dict)
    other_spans: dict[tuple, tuple[int, int]] = field(default_factory=dict)

    def spans(self, keys: Sequence[tuple]) -> list[tuple[int, int]]:
        return [self.other_spans[k] for k in keys if k in self.other_spans]

    _keys_by_step: dict[str, list[tuple]] = field(default_factory=dict)
    _keys_by_node: dict[str, list[tuple]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # indexed once: a file may hold tens of thousands of (step, node) groups
        for ns in self.node_steps:
            self._keys_by_step.setdefault(ns.step, []).append((ns.step, ns.node))
            self._keys_by_node.setdefault(ns.node, []).append((ns.step, ns.node))

    def keys(self, *, step: str | None = None, node: str | None = None) -> list[tuple]:
        if step is not None and node is None:
            return self._keys_by_step.get(step, [])
        if node is not None and step is None:
            return self._keys_by_node.get(node, [])
        return [
            (ns.step, ns.node)
            for ns in self.node_steps
            if (step is None or ns.step == step) and (node is None or ns.node == node)
        ]

    def tasks(self, keys: Sequence[tuple]) -> TaskFigures | None:
        total = None
        for part in (self.step_node_tasks[k] for k in keys if k in self.step_node_tasks):
            total = part if total is None else total.plus(part)
        return total

    def step_power(self, keys: Sequence[tuple]) -> tuple[list, list]:
        """Per-step figures use each step's own samples (never summed across steps)."""
        return (
            [self.step_node_energy[k] for k in keys if k in self.step_node_energy],
            [self.step_series[k] for k in keys if k in self.step_series],
        )

    def node_power(self, nodes: Sequence[str]) -> tuple[list, list]:
        """Node and job figures use each node's samples merged over its steps."""
        return (
            [self.node_energy[n] for n in nodes if n in self.node_energy],
            [self.node_series[n] for n in nodes if n in self.node_series],
        )


def compute_job(
    profile: ProfileLike,
    power: PowerPass,
    factors: ResolvedFactors,
    *,
    options: AnalysisOptions,
    write_rows: Callable[[pa.Table], None],
) -> JobAnalysis:
    """Every published figure of one profile; `write_rows` receives JOB_TIMESERIES chunks."""
    batch = _RowBatch(write_rows)
    nodes, steps, node_series = power.nodes, power.steps, power.node_series
    # pass 1 keeps totals only; pass 2 recomputes one series' per-interval arrays at a time.
    # A small job keeps pass 1's arrays instead (the same calls on the same series: the same
    # numbers), and saves integrating and pricing every series twice.
    keep = sum(len(s) for s in node_series.values()) <= KEEP_INTERVALS_SAMPLES
    computed, kept = {}, {}
    for s in node_series.values():
        figures, integration = _figures(s, options, factors)
        computed[id(s)] = _totals_only(figures)
        if keep:
            kept[id(s)] = (figures, integration)
    found = _Collected(
        profile.node_steps,
        power.step_series,
        node_series,
        {n: computed[id(s)] for n, s in node_series.items()},
    )
    for ns in profile.node_steps:
        _collect_node_step(
            profile, ns, options, power.step_series, (computed, kept), factors, found, batch
        )
    batch.flush()

    pue = options.pue
    breakdown = _breakdown(found, steps, nodes, pue)
    summary = metrics_row(
        *found.node_power(nodes),
        found.tasks(found.keys()),
        # nodes named by a job's files that could not be read still count (coverage < 1)
        n_nodes=len(set(nodes).union(getattr(profile, "expected_nodes", ()))),
        n_steps=len(steps),
        n_tasks=_job_tasks(profile),
        pue=pue,
        other_spans=found.spans(found.keys()),
    )
    for row in (summary, *breakdown):
        row["price_source"] = factors.price.source if factors.price else None
        row["carbon_source"] = factors.carbon.source if factors.carbon else None
    return JobAnalysis(job_id=profile.job_id, summary=summary, breakdown=breakdown)


def _collect_node_step(
    profile: ProfileLike,
    ns: NodeStepLike,
    options: AnalysisOptions,
    step_series: dict,
    pass1: tuple[dict, dict],
    factors: ResolvedFactors,
    found: _Collected,
    batch: _RowBatch,
) -> None:
    """One step on one node: its figures into `found`, its timeseries rows into `batch`.
    `pass1` holds the node series' totals and, for a small job, their per-interval figures."""
    key = (ns.step, ns.node)
    series = step_series.get(key)
    integration = figures = None
    if series is not None:
        # a node with one step has the same series at both levels: computed once
        computed, kept = pass1
        known = computed.get(id(series))
        if known is None:
            figures, integration = _figures(series, options, factors)
        elif id(series) in kept:
            figures, integration = kept[id(series)]
        else:
            figures, integration = _with_intervals(series, options, factors, known)
        found.step_node_energy[key] = _totals_only(figures) if known is None else known
    if span := _other_series_span(profile, ns):
        found.other_spans[key] = span
    tasks = _read_tasks(profile, ns)
    if tasks is not None:
        found.step_node_tasks[key] = tasks.figures
    rows = timeseries_table(
        ns.step,
        ns.node,
        series,
        integration,
        figures,
        factors.price,
        factors.carbon,
        tasks,
    )
    if rows is not None:
        batch.add(rows)


class _RowBatch:
    """Hands `write_rows` chunks of at least MIN_ROWS rows: a file of 20,000 tiny nodes costs one
    insert per batch, not one per node, while a long job's chunks pass straight through."""

    MIN_ROWS = 65_536

    def __init__(self, write_rows: Callable[[pa.Table], None]) -> None:
        self._write_rows = write_rows
        self._pending: list[pa.Table] = []
        self._rows = 0

    def add(self, rows: pa.Table) -> None:
        self._pending.append(rows)
        self._rows += rows.num_rows
        if self._rows >= self.MIN_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            # one contiguous chunk: DuckDB handles thousands of tiny Arrow chunks badly
            self._write_rows(pa.concat_tables(self._pending).combine_chunks())
        self._pending, self._rows = [], 0


def _read_tasks(profile: ProfileLike, ns: NodeStepLike):
    """Rank aggregates of one step on a node; rows at an impossible EpochTime are dropped."""
    table = profile.read_tasks(ns) if "Tasks" in ns.series else None
    if table is None:
        return None
    return aggregate_tasks(drop_invalid_times(table)[0])


def _other_series_span(profile: ProfileLike, ns: NodeStepLike) -> tuple[int, int] | None:
    """First and last EpochTime of the Network and Filesystem series of one step on a node."""
    firsts, lasts = [], []
    for name, read in (("Network", profile.read_network), ("Filesystem", profile.read_filesystem)):
        table = read(ns) if name in ns.series else None
        if table is not None:
            table = drop_invalid_times(table)[0]
        if table is not None and table.num_rows:
            bounds = pc.min_max(table.column("epoch_s"))
            firsts.append(bounds["min"].as_py())
            lasts.append(bounds["max"].as_py())
    return (min(firsts), max(lasts)) if firsts else None


def _tasks_of(ns: NodeStepLike) -> int:
    return ns.n_tasks if ns.n_tasks is not None else len(ns.task_ranks)


def _job_tasks(profile: ProfileLike) -> int:
    """The widest step's task count: steps run the same tasks again, batch runs one."""
    per_step: dict[str, int] = {}
    for ns in profile.node_steps:
        per_step[ns.step] = per_step.get(ns.step, 0) + _tasks_of(ns)
    return max(per_step.values(), default=0)


def _breakdown(found: _Collected, steps: list, nodes: list, pue: float | None) -> list[dict]:
    """Rows of job_step_node: each step on each node, each step, each node."""
    rows = []
    for ns in found.node_steps:
        keys = [(ns.step, ns.node)]
        metrics = metrics_row(
            *found.step_power(keys),
            found.tasks(keys),
            n_nodes=1,
            n_steps=1,
            n_tasks=_tasks_of(ns),
            pue=pue,
            other_spans=found.spans(keys),
        )
        rows.append({"level": "step_node", "step": ns.step, "node": ns.node, **metrics})
    tasks_by_step: dict[str, int] = {}
    widest_by_node: dict[str, int] = {}
    for ns in found.node_steps:
        tasks_by_step[ns.step] = tasks_by_step.get(ns.step, 0) + _tasks_of(ns)
        widest = widest_by_node.get(ns.node)
        widest_by_node[ns.node] = _tasks_of(ns) if widest is None else max(widest, _tasks_of(ns))
    for step in steps:
        keys = found.keys(step=step)
        metrics = metrics_row(
            *found.step_power(keys),
            found.tasks(keys),
            n_nodes=len(keys),
            n_steps=1,
            n_tasks=tasks_by_step[step],
            pue=pue,
            other_spans=found.spans(keys),
        )
        rows.append({"level": "step", "step": step, "node": None, **metrics})
    for node in nodes:
        keys = found.keys(node=node)
        metrics = metrics_row(
            *found.node_power([node]),
            found.tasks(keys),
            n_nodes=1,
            n_steps=len(keys),
            n_tasks=widest_by_node[node],
            pue=pue,
            other_spans=found.spans(keys),
        )
        rows.append({"level": "node", "step": None, "node": node, **metrics})
    return rows
