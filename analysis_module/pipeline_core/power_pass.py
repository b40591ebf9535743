"""The first stage of an analysis: every (step, node)'s power series and the job's time window.

Only the Energy series are read (they are small); the window is what prices and carbon
intensities are resolved for before any figure is computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from analysis_module.pipeline_core.inputs import AnalysisOptions, ProfileLike
from analysis_module.pipeline_core.node_energy import (
    PowerSeries,
    merge_series,
    power_series_from_table,
)


@dataclass(frozen=True)
class PowerPass:
    """Power series per (step, node) and per node (merged over its steps), in file order."""

    step_series: dict[tuple[str, str], PowerSeries]
    node_series: dict[str, PowerSeries]
    nodes: list[str]
    steps: list[str]
    window: tuple[int, int] | None  # first and last epoch second of any node's samples


def power_pass(profile: ProfileLike, options: AnalysisOptions) -> PowerPass:
    step_series = _read_power(profile, options)
    nodes = list(dict.fromkeys(ns.node for ns in profile.node_steps))
    steps = list(dict.fromkeys(ns.step for ns in profile.node_steps))
    node_series = _node_series(step_series, nodes)
    return PowerPass(step_series, node_series, nodes, steps, _window(list(node_series.values())))


def _read_power(profile: ProfileLike, options: AnalysisOptions) -> dict[tuple, PowerSeries]:
    found = {}
    for ns in profile.node_steps:
        if "Energy" not in ns.series:
            continue
        table = profile.read_energy(ns)
        series = (
            None
            if table is None
            else power_series_from_table(
                table, ceiling_w=options.power_ceiling_w, power_plugin=options.power_plugin
            )
        )
        if series is not None and len(series):
            found[(ns.step, ns.node)] = series
    return found


def _node_series(step_series: dict[tuple, PowerSeries], nodes: list[str]) -> dict:
    """Each node's samples merged over its steps, grouped in one pass (not once per node)."""
    parts_by_node: dict[str, list[PowerSeries]] = {}
    for (_, node), series in step_series.items():
        parts_by_node.setdefault(node, []).append(series)
    return {node: merge_series(parts_by_node[node]) for node in nodes if node in parts_by_node}


def _window(series: Sequence[PowerSeries]) -> tuple[int, int] | None:
    if not series:
        return None
    return (
        int(min(s.epoch_s[0] for s in series)),
        int(max(s.epoch_s[-1] for s in series)),
    )
