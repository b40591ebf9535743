"""Joules from one node's samples: integrate power, or sum xcc's interval energy.

docs/energy-metrics.md section 3. Both functions return the same `Integration`, whose
per-interval energies feed the time-varying price and carbon factors (section 5) and whose
`integrated_s` feeds `coverage`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from analysis_module.pipeline_core.power import sentinel_mask

RULES = ("trapezoid", "left", "right")


@dataclass(frozen=True, eq=False)
class Integration:
    """Energy of one series, interval by interval (interval k = samples k..k+1)."""

    energy_j: float
    integrated_s: float
    interval_start_s: np.ndarray
    interval_end_s: np.ndarray
    interval_energy_j: np.ndarray
    n_gap_intervals: int
    n_missing_intervals: int
    cumulative_energy_j: np.ndarray
    median_interval_s: float | None = None
    n_sentinel: int = 0
    n_implausible: int = 0


def _check_epochs(epoch_s: np.ndarray, n_values: int) -> np.ndarray:
    epochs = np.asarray(epoch_s, dtype=np.int64)
    if epochs.ndim != 1 or epochs.shape[0] != n_values:
        raise ValueError(f"epoch_s has shape {epochs.shape}, values have {n_values} samples")
    if epochs.size > 1 and not bool(np.all(np.diff(epochs) > 0)):
        raise ValueError("epoch_s must be sorted and unique (call dedupe_by_epoch first)")
    return epochs


def _too_long(
    length_s: np.ndarray,
    gap_factor: float,
    median_interval_s: float | None,
    max_interval_s: float | None = None,
) -> tuple[np.ndarray, float | None]:
    """Intervals longer than gap_factor x the median sampling interval are gaps (section 3).

    The median comes from this series (all its intervals are positive after deduplication)
    unless the caller passes one, e.g. to judge a short step by its node's usual cadence.
    The relative rule cannot see a gap when every interval is huge (three samples 10^9 s
    apart), so an interval longer than ``max_interval_s`` (setting MAX_SAMPLE_INTERVAL_S) is a
    gap too, whatever the median.
    """
    median = median_interval_s
    if median is None and length_s.size:
        median = float(np.median(length_s))
    if median is None:
        return np.zeros(length_s.shape, dtype=bool), None
    gap = length_s > gap_factor * median
    if max_interval_s is not None:
        gap |= length_s > max_interval_s
    return gap, median


def _empty(epochs: np.ndarray) -> Integration:
    """Fewer than two samples: no interval, so nothing is integrated."""
    none_i = np.empty(0, dtype=np.int64)
    return Integration(
        0.0, 0.0, none_i, none_i.copy(), np.empty(0), 0, 0, np.zeros(epochs.size), None
    )


def _result(
    epochs: np.ndarray,
    energy_j: np.ndarray,
    usable: np.ndarray,
    gap: np.ndarray,
    median: float | None,
) -> Integration:
    """Assemble an Integration; a gap that also lacks values counts as a gap, not missing."""
    length_s = np.diff(epochs).astype(np.float64)
    integrated = usable & ~gap
    per_interval = np.where(integrated, energy_j, 0.0)
    cumulative = np.concatenate(([0.0], np.cumsum(per_interval)))
    return Integration(
        energy_j=float(cumulative[-1]),
        integrated_s=float(length_s[integrated].sum()),
        interval_start_s=epochs[:-1].copy(),
        interval_end_s=epochs[1:].copy(),
        interval_energy_j=per_interval,
        n_gap_intervals=int(gap.sum()),
        n_missing_intervals=int((~usable & ~gap).sum()),
        cumulative_energy_j=cumulative,
        median_interval_s=median,
    )


def integrate_power(
    epoch_s: np.ndarray,
    watts: np.ndarray,
    *,
    rule: str = "trapezoid",
    gap_factor: float = 3.0,
    median_interval_s: float | None = None,
    max_interval_s: float | None = None,
) -> Integration:
    """Integrate cleaned watts (NaN = gap) over sorted unique epochs (section 3).

    trapezoid (default, as Slurm's IPMI accounting): mean of both ends; needs both.
    left: value at the interval start, exact for a sensor that holds each reading until the
    next sample (the real samples' emulator). right: value at the end, which reproduces RAPL's
    `Power`, itself the average over the preceding interval.
    """
    if rule not in RULES:
        raise ValueError(f"unknown integration rule {rule!r}; use one of {RULES}")
    w = np.asarray(watts, dtype=np.float64)
    epochs = _check_epochs(epoch_s, w.size)
    if epochs.size < 2:
        return _empty(epochs)
    length_s = np.diff(epochs).astype(np.float64)
    gap, median = _too_long(length_s, gap_factor, median_interval_s, max_interval_s)
    start_w, end_w = w[:-1], w[1:]
    if rule == "trapezoid":
        usable = np.isfinite(start_w) & np.isfinite(end_w)
        mean_w = 0.5 * (start_w + end_w)
    elif rule == "left":
        usable, mean_w = np.isfinite(start_w), start_w
    else:
        usable, mean_w = np.isfinite(end_w), end_w
    with np.errstate(invalid="ignore"):
        energy_j = mean_w * length_s
    return _result(epochs, energy_j, usable, gap, median)


def sum_interval_energy(
    epoch_s: np.ndarray,
    energy_j_values: np.ndarray,
    *,
    gap_factor: float = 3.0,
    median_interval_s: float | None = None,
    ceiling_w: float | None = None,
    max_interval_s: float | None = None,
) -> Integration:
    """xcc's `Energy` (joules in the interval ending at each sample), summed, not integrated.

    Sample i > 0 contributes its joules to the interval (i-1, i). The first sample's joules
    belong to an interval that ends at the series start and whose start is unknown, so they
    are dropped: the series then covers exactly first..last EpochTime, like a power series, and
    coverage stays honest. The same gap rule applies as for power (an interval longer than
    gap_factor x median is not counted). Raw uint64 values can be passed as they are: sentinels
    (counted in `n_sentinel`), NaN, and negative joules or joules above `ceiling_w` x the
    interval length (counted in `n_implausible`) are missing values.
    """
    raw = np.asarray(energy_j_values)
    epochs = _check_epochs(epoch_s, raw.size)
    sentinel = sentinel_mask(raw)
    if epochs.size < 2:
        return replace(_empty(epochs), n_sentinel=int(sentinel.sum()))
    joules = raw.astype(np.float64)
    length_s = np.diff(epochs).astype(np.float64)
    with np.errstate(invalid="ignore"):
        implausible = ~sentinel & (joules < 0)
        if ceiling_w is not None:
            implausible[1:] |= ~sentinel[1:] & (joules[1:] > ceiling_w * length_s)
    joules[sentinel | implausible] = np.nan
    gap, median = _too_long(length_s, gap_factor, median_interval_s, max_interval_s)
    end_j = joules[1:]
    result = _result(epochs, end_j, np.isfinite(end_j), gap, median)
    return replace(result, n_sentinel=int(sentinel.sum()), n_implausible=int(implausible.sum()))
