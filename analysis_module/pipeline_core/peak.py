"""Peak power of a job: the largest sum of node powers at one moment.

Definition: docs/energy-metrics.md section 4."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _finite(epoch_s: np.ndarray, watts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One node's samples with a value, sorted by time (first row of a repeated epoch wins)."""
    epochs = np.asarray(epoch_s, dtype=np.int64)
    w = np.asarray(watts, dtype=np.float64)
    keep = np.isfinite(w)
    epochs, w = epochs[keep], w[keep]
    order = np.argsort(epochs, kind="stable")
    epochs, first = np.unique(epochs[order], return_index=True)
    return epochs, w[order][first]


def _held_values(
    epochs: np.ndarray, watts: np.ndarray, at_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A node's last value at each time, held for at most one median sampling interval."""
    hold_s = float(np.median(np.diff(epochs))) if epochs.size > 1 else 0.0
    idx = np.searchsorted(epochs, at_s, side="right") - 1
    safe = np.clip(idx, 0, None)
    valid = (idx >= 0) & (at_s - epochs[safe] <= hold_s)
    return np.where(valid, watts[safe], np.nan), valid


def _max_of_sum(at_s: np.ndarray, total_w: np.ndarray) -> tuple[float | None, int | None]:
    if total_w.size == 0:
        return None, None
    best = int(np.argmax(total_w))  # first time the maximum is reached
    return float(total_w[best]), int(at_s[best])


def peak_power(
    node_series: Sequence[tuple[np.ndarray, np.ndarray]],
) -> tuple[float | None, int | None]:
    """Max over time of the sum of node powers at common sample times -> (watts, epoch_s).

    Common times are the epochs at which every node has a finite value; each node's power is
    its node-level series (for gpu-only nodes the per-sample GPU sum). Nodes whose sensors
    never sample at the same second (unaligned clocks or cadences) share no such time; then
    each node's last value is held for at most one of its median sampling intervals, on the
    union of all sample times, and only times where every node has a (held) value count, so a
    node is never treated as drawing 0 W. Returns (None, None) when no time qualifies.
    """
    nodes = [_finite(e, w) for e, w in node_series]
    if not nodes or any(e.size == 0 for e, _ in nodes):
        return None, None
    common = nodes[0][0]
    for epochs, _ in nodes[1:]:
        common = np.intersect1d(common, epochs, assume_unique=True)
    if common.size:
        total = np.zeros(common.size)
        for epochs, w in nodes:
            total += w[np.searchsorted(epochs, common)]
        return _max_of_sum(common, total)
    union = np.unique(np.concatenate([e for e, _ in nodes]))
    total = np.zeros(union.size)
    everyone = np.ones(union.size, dtype=bool)
    for epochs, w in nodes:
        held, valid = _held_values(epochs, w, union)
        total += np.where(valid, held, 0.0)
        everyone &= valid
    return _max_of_sum(union[everyone], total[everyone])
