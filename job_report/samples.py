"""The job's samples shaped for the plots: power per node, cumulative energy and cost, steps.

Samples are rows of the job's table (step, node, epoch_s, power_w, price_eur_per_mwh). A node
shared by two steps (the batch step and a job step) records the same sensor in both, so per
node the samples of all steps are merged on epoch_s, the first of a repeated time kept, as the
analysis itself does for node and job totals. The cumulative curve integrates those merged
samples with the trapezoid rule and is labelled "from the plotted samples": the published
total (the headline) applies the job's own rule and gap handling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from job_report.charts import Band

Row = Mapping[str, Any]
JOULES_PER_MWH = 3.6e9
# The batch, extern and interactive steps span the whole allocation: no band would mark anything.
WHOLE_JOB_STEPS = frozenset({"batch", "-4", "-6"})


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and value == value else None


def _merged_by_node(samples: Sequence[Row]) -> dict[str, list[tuple[int, float, float | None]]]:
    """node -> [(epoch_s, power_w, price)] sorted, one sample per second (the first)."""
    by_node: dict[str, dict[int, tuple[float, float | None]]] = {}
    for row in samples:
        epoch, power = row.get("epoch_s"), _number(row.get("power_w"))
        if epoch is None or power is None:
            continue
        seen = by_node.setdefault(str(row.get("node")), {})
        seen.setdefault(int(epoch), (power, _number(row.get("price_eur_per_mwh"))))
    return {
        node: [(t, p, price) for t, (p, price) in sorted(points.items())]
        for node, points in sorted(by_node.items())
    }


def job_start(samples: Sequence[Row]) -> int | None:
    epochs = [int(r["epoch_s"]) for r in samples if r.get("epoch_s") is not None]
    return min(epochs) if epochs else None


def power_by_node(samples: Sequence[Row]) -> dict[str, tuple[list[float], list[float]]]:
    """node -> (seconds since the job's start, power in W)."""
    start = job_start(samples)
    return {
        node: ([float(t - start) for t, _, _ in points], [p for _, p, _ in points])
        for node, points in _merged_by_node(samples).items()
    }


def cumulative_energy_and_cost(
    samples: Sequence[Row],
) -> tuple[tuple[list[float], list[float]], tuple[list[float], list[float]]]:
    """((seconds, joules so far), (seconds, euros so far)) over all nodes; the cost curve is
    empty when no sample carries a price."""
    start = job_start(samples)
    steps: dict[int, list[float]] = {}  # epoch -> [joules added, euros added]
    priced = False
    for points in _merged_by_node(samples).values():
        for (t0, p0, _), (t1, p1, price) in pairwise(points):
            joules = (p0 + p1) / 2 * (t1 - t0)
            added = steps.setdefault(t1, [0.0, 0.0])
            added[0] += joules
            if price is not None:
                priced = True
                added[1] += joules * price / JOULES_PER_MWH
    xs, energy, cost = [0.0], [0.0], [0.0]
    for t in sorted(steps):
        xs.append(float(t - start))
        energy.append(energy[-1] + steps[t][0])
        cost.append(cost[-1] + steps[t][1])
    if len(xs) == 1:
        return ([], []), ([], [])
    return (xs, energy), ((xs, cost) if priced else ([], []))


def steps_as_bands(steps: Sequence[Row], samples: Sequence[Row]) -> list[Band]:
    """Each step's span (from its job_step_node row) relative to the job's start."""
    start = job_start(samples)
    if start is None:
        return []
    bands = []
    for row in steps:
        if row.get("step") in WHOLE_JOB_STEPS:
            continue
        first, last = row.get("start_time"), row.get("end_time")
        if first is None or last is None:
            continue
        bands.append(
            Band(f"step {row.get('step')}", first.timestamp() - start, last.timestamp() - start)
        )
    return bands
