"""Inline SVG charts: line charts over time and horizontal bars, drawn as plain markup.

No script and no external resource: the page works offline, prints, and is safe to serve with
a Content-Security-Policy that forbids scripts. Every number placed in the markup is formatted
here; every text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
)
WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40
MAX_POINTS = 800  # per series: more points than pixels only make the page heavier


@dataclass(frozen=True)
class Series:
    label: str
    xs: Sequence[float]  # seconds since the job's start
    ys: Sequence[float]


@dataclass(frozen=True)
class Band:
    """A shaded time span with a label (a job step)."""

    label: str
    start_s: float
    end_s: float


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 5 x 10^n steps)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0]
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = [round(first, 12)]
    while ticks[-1] < high - step * 1e-9:  # the last tick is at or above `high`
        ticks.append(round(first + len(ticks) * step, 12))
    return ticks


def time_unit(span_s: float) -> tuple[str, float]:
    """Seconds for a job of a few minutes, minutes up to a few hours, then hours."""
    if span_s < 180:
        return "seconds", 1.0
    if span_s < 3 * 3600:
        return "minutes", 60.0
    return "hours", 3600.0


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}".replace(",", "\u2009")
    return f"{value:.3g}"


def thin(xs: Sequence[float], ys: Sequence[float], limit: int = MAX_POINTS) -> tuple[list, list]:
    """At most `limit` points: bucket means, so a long 1 Hz job keeps its shape."""
    n = len(xs)
    if n <= limit:
        return list(xs), list(ys)
    size = math.ceil(n / limit)
    out_x, out_y = [], []
    for start in range(0, n, size):
        chunk_x, chunk_y = xs[start : start + size], ys[start : start + size]
        out_x.append(sum(chunk_x) / len(chunk_x))
        out_y.append(sum(chunk_y) / len(chunk_y))
    return out_x, out_y


@dataclass(frozen=True)
class _Frame:
    """The plot area of a line chart: where a time (s) and a value land in the SVG."""

    x_span: float  # seconds at the right edge
    y_base: float  # the value at the bottom edge
    y_top: float  # the value at the top edge
    plot_w: int = WIDTH - LEFT - RIGHT
    plot_h: int = HEIGHT - TOP - BOTTOM

    def px(self, x: float) -> float:
        return LEFT + self.plot_w * x / self.x_span

    def py(self, y: float) -> float:
        return TOP + self.plot_h * (1 - (y - self.y_base) / (self.y_top - self.y_base))


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    y_label: str,
    bands: Sequence[Band] = (),
    chart_id: str,
) -> str:
    """One SVG; each series is a `<path class="series">` carrying its label (tests count them)."""
    drawn = [s for s in series if len(s.xs)]
    if not drawn:
        return f'<p class="empty">{escape(title)}: no samples to plot.</p>'
    x_max = max(max(s.xs) for s in drawn)
    y_values = [y for s in drawn for y in s.ys if math.isfinite(y)]
    y_low, y_high = min(0.0, min(y_values, default=0.0)), max(y_values, default=1.0)
    x_unit, x_scale = time_unit(x_max)
    x_ticks, y_ticks = nice_ticks(0.0, x_max / x_scale), nice_ticks(y_low, y_high)
    y_base, y_top = y_ticks[0], y_ticks[-1] if y_ticks[-1] > y_ticks[0] else y_ticks[0] + 1
    frame = _Frame(max(x_ticks[-1] * x_scale, 1e-9), y_base, y_top)
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        *_band_marks(frame, bands),
        *_axis_marks(frame, x_ticks, x_scale, y_ticks),
        _axis_labels(frame, x_unit, y_label),
        *_series_paths(frame, drawn),
        "</svg>",
    ]
    legend = "".join(
        f'<span class="key"><i style="background:{PALETTE[i % len(PALETTE)]}"></i>'
        f"{escape(s.label)}</span>"
        for i, s in enumerate(drawn)
    )
    return f"<figure><figcaption>{escape(title)}</figcaption>{''.join(parts)}" + (
        f'<div class="legend">{legend}</div></figure>'
    )


def _band_marks(frame: _Frame, bands: Sequence[Band]) -> list[str]:
    """A shaded, labelled span per band, alternating two shades."""
    marks = []
    for i, band in enumerate(bands):
        x0, x1 = frame.px(max(band.start_s, 0.0)), frame.px(min(band.end_s, frame.x_span))
        shade = "#eef2f7" if i % 2 == 0 else "#f6f1e9"
        marks.append(
            f'<g class="band"><rect x="{x0:.1f}" y="{TOP}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{frame.plot_h}" fill="{shade}"><title>{escape(band.label)}</title></rect>'
            f'<text x="{x0 + 3:.1f}" y="{TOP + 12}" class="band-label">'
            f"{escape(band.label)}</text></g>"
        )
    return marks


def _axis_marks(
    frame: _Frame, x_ticks: list[float], x_scale: float, y_ticks: list[float]
) -> list[str]:
    """A grid line and value per y tick, then a time per x tick (in the axis' unit)."""
    marks = []
    for tick in y_ticks:
        y = frame.py(tick)
        marks.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
            f"{_fmt(tick)}</text>"
        )
    for tick in x_ticks:
        x = frame.px(tick * x_scale)
        marks.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" class="tick" text-anchor="middle">'
            f"{_fmt(tick)}</text>"
        )
    return marks


def _axis_labels(frame: _Frame, x_unit: str, y_label: str) -> str:
    middle = TOP + frame.plot_h / 2
    return (
        f'<text x="{LEFT + frame.plot_w / 2:.0f}" y="{HEIGHT - 6}" class="axis" '
        f'text-anchor="middle">{x_unit} since the job started</text>'
        f'<text x="14" y="{middle:.0f}" class="axis" text-anchor="middle" '
        f'transform="rotate(-90 14 {middle:.0f})">{escape(y_label)}</text>'
    )


def _series_paths(frame: _Frame, drawn: Sequence[Series]) -> list[str]:
    """One path per series, thinned to `MAX_POINTS`; non-finite values are left out."""
    paths = []
    for i, s in enumerate(drawn):
        xs, ys = thin(s.xs, s.ys)
        points = " ".join(
            f"{'M' if j == 0 else 'L'}{frame.px(x):.1f},{frame.py(y):.1f}"
            for j, (x, y) in enumerate(zip(xs, ys, strict=True))
            if math.isfinite(y)
        )
        color = PALETTE[i % len(PALETTE)]
        paths.append(
            f'<path class="series" data-label="{escape(s.label)}" d="{points}" fill="none" '
            f'stroke="{color}" stroke-width="1.5"><title>{escape(s.label)}</title></path>'
        )
    return paths


def bar_chart(items: Sequence[tuple[str, float]], *, title: str, unit: str, chart_id: str) -> str:
    """Horizontal bars, one per (label, value), largest value full width."""
    shown = [(label, value) for label, value in items if value is not None and value >= 0]
    if not shown:
        return f'<p class="empty">{escape(title)}: nothing to show.</p>'
    top = max(value for _, value in shown) or 1.0
    row_h, label_w, bar_w = 22, 200, WIDTH - 200 - 120
    height = TOP + row_h * len(shown) + 8
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart bars" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(shown):
        y = TOP + i * row_h
        width = bar_w * value / top
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" class="tick" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{max(width, 1):.1f}" '
            f'height="{row_h - 6}" fill="{PALETTE[0]}"><title>{escape(label)}: '
            f"{_fmt(value)} {escape(unit)}</title></rect>"
            f'<text x="{label_w + width + 6:.1f}" y="{y + 15}" class="tick">'
            f"{_fmt(value)} {escape(unit)}</text>"
        )
    parts.append("</svg>")
    return f"<figure><figcaption>{escape(title)}</figcaption>{''.join(parts)}</figure>"
