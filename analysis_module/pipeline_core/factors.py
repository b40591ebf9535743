"""Time-varying electricity price and carbon intensity applied to interval energies.

docs/energy-metrics.md section 5: a factor is piecewise constant on [t_k, t_k+1); the cost of
an integration interval is its energy times the factor valid then, and an interval crossing a
factor boundary is split in proportion to time. Done for all intervals at once through the
cumulative integral of the factor, which is piecewise linear and so exact under `np.interp`.
Also here: turning already-loaded SMARD JSON and price-file columns into factors (the fetching
and file reading belong to `connectors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analysis_module.pipeline_core.units import JOULES_PER_KWH, JOULES_PER_MWH, JOULES_PER_UNIT

__all__ = ["JOULES_PER_KWH", "JOULES_PER_MWH"]  # with the factors they convert

_ALL_TIME_START_S = int(np.iinfo(np.int64).min)
_ALL_TIME_END_S = int(np.iinfo(np.int64).max)


@dataclass(frozen=True, eq=False)
class PiecewiseConstant:
    """Factor value on intervals [start_s, end_s) (epoch seconds; NaN value = unknown).

    Intervals are sorted, unique and non-overlapping; a time between one interval's end and
    the next start is uncovered, like a NaN value.
    """

    start_s: np.ndarray
    end_s: np.ndarray
    value: np.ndarray
    unit: str
    source: str

    def __post_init__(self) -> None:
        start = np.asarray(self.start_s, dtype=np.int64).reshape(-1)
        end = np.asarray(self.end_s, dtype=np.int64).reshape(-1)
        value = np.asarray(self.value, dtype=np.float64).reshape(-1)
        if not start.size == end.size == value.size:
            raise ValueError("start_s, end_s and value must have the same length")
        if np.any(end <= start):
            raise ValueError("every factor interval needs end_s > start_s")
        if np.any(start[1:] < end[:-1]):
            raise ValueError("factor intervals must be sorted and must not overlap")
        object.__setattr__(self, "start_s", start)
        object.__setattr__(self, "end_s", end)
        object.__setattr__(self, "value", value)

    @classmethod
    def from_starts(
        cls,
        start_s: np.ndarray,
        value: np.ndarray,
        *,
        last_end_s: int | None = None,
        unit: str,
        source: str,
    ) -> PiecewiseConstant:
        """Each value holds until the next start; the last one for the median step.

        Rows are sorted by start first; two values for one start are ambiguous and refused.
        """
        starts = np.asarray(start_s, dtype=np.int64).reshape(-1)
        values = np.asarray(value, dtype=np.float64).reshape(-1)
        order = np.argsort(starts, kind="stable")
        starts, values = starts[order], values[order]
        if starts.size == 0:
            return cls(starts, starts.copy(), values, unit, source)
        steps = np.diff(starts)
        if np.any(steps == 0):
            raise ValueError(f"two factor values for one start time ({source})")
        if last_end_s is None:
            if steps.size == 0:
                raise ValueError(
                    "a single row: at least two start times are needed to know how long "
                    "a value holds"
                )
            last_end_s = int(starts[-1] + np.median(steps))
        ends = np.append(starts[1:], np.int64(last_end_s))
        return cls(starts, ends, values, unit, source)

    @classmethod
    def constant(cls, value: float, *, unit: str, source: str) -> PiecewiseConstant:
        """One value for all time (a flat tariff or a fixed carbon intensity)."""
        return cls(
            np.array([_ALL_TIME_START_S]), np.array([_ALL_TIME_END_S]), [value], unit, source
        )


def flat_tariff(price_eur_per_kwh: float, *, source: str) -> PiecewiseConstant:
    """A flat tariff in EUR/kWh (section 5, source c) as EUR/MWh, the unit of market prices."""
    return PiecewiseConstant.constant(price_eur_per_kwh * 1000.0, unit="EUR/MWh", source=source)


@dataclass(frozen=True, eq=False)
class FactorResult:
    """Cost (or CO2) of a series: `total` is None, with a `reason`, unless fully covered."""

    total: float | None
    per_interval: np.ndarray
    uncovered_s: float
    reason: str | None


def _segments(factor: PiecewiseConstant, lo_s: int, hi_s: int) -> tuple[np.ndarray, np.ndarray]:
    """Knot times and the value on each segment between them, NaN where nothing is known.

    Gaps between factor intervals and the time outside them become NaN segments, so every
    instant in [lo_s, hi_s] falls in exactly one segment.
    """
    n = factor.start_s.size
    if n == 0:
        return np.array([lo_s, hi_s], dtype=np.int64), np.array([np.nan])
    knots = np.empty(2 * n + 2, dtype=np.int64)
    knots[0] = min(lo_s, int(factor.start_s[0]))
    knots[1:-1:2] = factor.start_s
    knots[2:-1:2] = factor.end_s
    knots[-1] = max(hi_s, int(factor.end_s[-1]))
    values = np.full(2 * n + 1, np.nan)
    values[1::2] = factor.value
    return knots, values


def _cumulative(
    knots: np.ndarray, values: np.ndarray, lo_s: int, hi_s: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integral of the known factor (F) and the unknown time (U) from lo_s, at the knots.

    Knots are clipped to [lo_s, hi_s] and measured from lo_s before going to float, so an
    all-time constant (int64 extremes) or epoch-sized offsets lose no precision.
    """
    t = (np.clip(knots, lo_s, hi_s) - lo_s).astype(np.float64)
    length = np.diff(t)
    known = np.isfinite(values)
    f = np.concatenate(([0.0], np.cumsum(np.where(known, values, 0.0) * length)))
    u = np.concatenate(([0.0], np.cumsum(np.where(known, 0.0, length))))
    keep = np.concatenate(([True], length > 0))  # np.interp needs increasing knots
    return t[keep], f[keep], u[keep]


def _what(unit: str) -> str:
    return {"EUR/MWh": "price", "EUR/kWh": "price", "g/kWh": "carbon intensity"}.get(
        unit, "factor value"
    )


def _iso(epoch_s: int) -> str:
    return f"{np.datetime64(int(epoch_s), 's')}Z"


def _reason(
    a: np.ndarray, b: np.ndarray, bad: np.ndarray, uncovered_s: float, factor: PiecewiseConstant
) -> str:
    first, last = int(a[bad].min()), int(b[bad].max())
    return (
        f"no {_what(factor.unit)} ({factor.unit}) from {factor.source} for {uncovered_s:g} s "
        f"within {_iso(first)}..{_iso(last)} ({int(bad.sum())} interval(s) with energy)"
    )


def apply_factor(
    interval_start_s: np.ndarray,
    interval_end_s: np.ndarray,
    interval_energy_j: np.ndarray,
    factor: PiecewiseConstant,
    *,
    joules_per_unit: float,
) -> FactorResult:
    """Cost or CO2 per interval: energy / joules_per_unit x the factor's time-average over it.

    joules_per_unit: 3.6e9 for EUR/MWh, 3.6e6 for g/kWh or EUR/kWh (checked against a known
    unit). The time-average over [a, b) is (F(b) - F(a)) / (b - a) with F the cumulative
    integral, which splits boundary-crossing intervals in proportion to time; a zero-length
    interval takes the value at a. An interval with energy that is not fully covered by known
    values makes `total` None (never 0), and `uncovered_s` sums its uncovered seconds.
    Non-finite energies count as 0 (not integrated). Negative factor values are legal.
    """
    expected = JOULES_PER_UNIT.get(factor.unit)
    if expected is not None and joules_per_unit != expected:
        raise ValueError(f"{factor.unit} needs joules_per_unit={expected:g}")
    a = np.asarray(interval_start_s, dtype=np.int64)
    b = np.asarray(interval_end_s, dtype=np.int64)
    energy = np.asarray(interval_energy_j, dtype=np.float64)
    energy = np.where(np.isfinite(energy), energy, 0.0)
    if a.size == 0:
        return FactorResult(0.0, np.empty(0), 0.0, None)
    lo_s, hi_s = int(a.min()), int(b.max())
    knots, values = _segments(factor, lo_s, hi_s)
    t, f, u = _cumulative(knots, values, lo_s, hi_s)
    ta, tb = (a - lo_s).astype(np.float64), (b - lo_s).astype(np.float64)
    length = tb - ta
    positive = length > 0
    at_a = values[np.clip(np.searchsorted(knots, a, side="right") - 1, 0, values.size - 1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(positive, (np.interp(tb, t, f) - np.interp(ta, t, f)) / length, at_a)
    uncovered = np.where(positive, np.interp(tb, t, u) - np.interp(ta, t, u), 0.0)
    bad = np.where(positive, uncovered > 0, ~np.isfinite(at_a))
    per_interval = np.where(bad, np.nan, energy / joules_per_unit * mean)
    bad_with_energy = bad & (energy != 0)
    uncovered_s = float(uncovered[energy != 0].sum())
    if bad_with_energy.any():
        return FactorResult(
            None, per_interval, uncovered_s, _reason(a, b, bad_with_energy, uncovered_s, factor)
        )
    return FactorResult(float(np.nansum(per_interval)), per_interval, uncovered_s, None)


def merge_factors(parts: Sequence[PiecewiseConstant]) -> PiecewiseConstant:
    """Concatenate factor blocks (e.g. weekly SMARD blocks); a later part wins on overlap.

    A NaN (unknown) value never overwrites a known one: a null carries no information, so a
    re-fetched block with trailing nulls cannot erase a price an earlier part knows.
    """
    parts = list(parts)
    if not parts:
        raise ValueError("merge_factors needs at least one part")
    units = {p.unit for p in parts}
    if len(units) != 1:
        raise ValueError(f"cannot merge factors with different units: {sorted(units)}")
    bounds = np.unique(np.concatenate([np.concatenate((p.start_s, p.end_s)) for p in parts]))
    seg_start, seg_end = bounds[:-1], bounds[1:]
    merged = np.full(seg_start.size, np.nan)
    covered = np.zeros(seg_start.size, dtype=bool)
    for part in (p for p in parts if p.start_s.size):  # a handful of blocks, each vectorised
        idx = np.searchsorted(part.start_s, seg_start, side="right") - 1
        safe = np.clip(idx, 0, None)
        inside = (idx >= 0) & (seg_start < part.end_s[safe])
        covered |= inside
        value = np.where(inside, part.value[safe], np.nan)
        merged = np.where(np.isfinite(value), value, merged)
    sources = list(dict.fromkeys(p.source for p in parts))
    return PiecewiseConstant(
        seg_start[covered], seg_end[covered], merged[covered], parts[0].unit, "; ".join(sources)
    )


SMARD_STEP_S = {"quarterhour": 900, "hour": 3600, "day": 86400, "week": 604800}
"""Nominal step per SMARD resolution; only the last value of a block uses it (its end)."""
SMARD_ATTRIBUTION = "Bundesnetzagentur | SMARD.de"


def parse_smard_index(obj: dict) -> np.ndarray:
    """`index_<resolution>.json` -> sorted block start times in ms."""
    return np.unique(np.asarray(obj["timestamps"], dtype=np.int64))


def parse_smard_block(
    obj: dict,
    *,
    resolution: str,
    unit: str = "EUR/MWh",
    source: str = f"SMARD day-ahead DE-LU ({SMARD_ATTRIBUTION})",
) -> PiecewiseConstant:
    """A SMARD block `{"series": [[ms, value|null], ...]}` -> factor (nulls -> NaN, unknown).

    Each value holds until the next timestamp (so DST-length days are right inside a block);
    the last one for the nominal step of `resolution` (quarterhour, hour, day or week).
    """
    if resolution not in SMARD_STEP_S:
        raise ValueError(f"unsupported SMARD resolution {resolution!r}; use {list(SMARD_STEP_S)}")
    series = obj.get("series") or []
    if not series:
        return PiecewiseConstant(np.empty(0), np.empty(0), np.empty(0), unit, source)
    rows = np.asarray(series, dtype=np.float64)  # null -> NaN; ms < 2**53 stay exact
    start_s = rows[:, 0].astype(np.int64) // 1000
    last_end_s = int(start_s.max()) + SMARD_STEP_S[resolution]
    return PiecewiseConstant.from_starts(
        start_s, rows[:, 1], last_end_s=last_end_s, unit=unit, source=source
    )


def smard_blocks_needed(index_ms: np.ndarray, start_s: int, end_s: int) -> list[int]:
    """Start times (ms) of the blocks that cover [start_s, end_s], both ends included.

    Block k covers [index[k], index[k+1]); the last block runs on (the current, growing one).
    """
    index = np.unique(np.asarray(index_ms, dtype=np.int64))
    first = max(int(np.searchsorted(index, start_s * 1000, side="right")) - 1, 0)
    last = int(np.searchsorted(index, end_s * 1000, side="right")) - 1
    return [int(ms) for ms in index[first : last + 1]]


_ZONED = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$"
_PER_S = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def _as_arrow(column: object) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks()
    if isinstance(column, pa.Array):
        return column
    return pa.array(np.asarray(column) if not isinstance(column, list) else column)


def _ns_from_strings(text: pa.Array) -> pa.Array:
    """ISO 8601 -> ns since the epoch; with Z or an offset as given, naive as UTC."""
    text = pc.utf8_upper(pc.utf8_trim_whitespace(text))
    zoned = pc.match_substring_regex(text, _ZONED)
    as_utc = pc.if_else(zoned, text, None).cast(pa.timestamp("ns", tz="UTC"))
    as_naive = pc.if_else(zoned, None, text).cast(pa.timestamp("ns"))
    return pc.coalesce(as_utc.cast(pa.int64()), as_naive.cast(pa.int64()))


def _epoch_s(column: object) -> np.ndarray:
    """Start column -> int64 epoch seconds (sub-second parts floored)."""
    arr = _as_arrow(column)
    if arr.null_count:
        raise ValueError(f"{arr.null_count} factor row(s) have no start time")
    per_s = 1
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr, per_s = _ns_from_strings(arr), _PER_S["ns"]
    elif pa.types.is_timestamp(arr.type):
        per_s = _PER_S[arr.type.unit]
    elif pa.types.is_floating(arr.type):
        arr = pc.floor(arr)
    ticks = np.asarray(arr.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    return ticks // per_s


def parse_factor_csv_columns(
    start: object,
    value: object,
    *,
    unit: str,
    source: str,
    last_end_s: int | None = None,
) -> PiecewiseConstant:
    """Price-file columns (section 5 source b) -> factor; each value holds until the next start.

    `start` holds ISO 8601 strings, Arrow timestamps or epoch seconds. Strings with `Z` or an
    offset are converted to UTC; naive strings and tz-less timestamps are taken as UTC (a price
    file in local time must say so with an offset, since local times repeat at the DST change).
    Missing values become NaN (unknown); the last value holds for the median step unless
    `last_end_s` is given.
    """
    starts = _epoch_s(start)
    values_arrow = _as_arrow(value).cast(pa.float64())
    values = np.asarray(values_arrow.to_numpy(zero_copy_only=False), dtype=np.float64)
    return PiecewiseConstant.from_starts(
        starts, values, last_end_s=last_end_s, unit=unit, source=source
    )
