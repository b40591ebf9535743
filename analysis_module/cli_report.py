"""What the batch CLI prints: the outcome table (energy in J and kWh), the rescan summary.

The table fits 80 columns: one line of figures per job and, under a failed job, a job that left
files out or a figure shown as `-`, an indented line with the reason (shortened; `--json` has
the full text). A job with work figures (LIKWID output, `--work`) gets an indented line of them.
Definitions of the figures: docs/energy-metrics.md.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap

from analysis_module.pipeline_core.units import JOULES_PER_KWH

REASON_CHARS = 150


def kwh_text(energy_j: float | None) -> str:
    """Joules as kWh with about three significant digits (`0.000875`, `12.3`, `1,234`)."""
    if energy_j is None or not math.isfinite(energy_j):
        return "-"
    kwh = energy_j / JOULES_PER_KWH
    if abs(kwh) >= 1000:
        return f"{kwh:,.0f}"
    if kwh == 0:
        return "0"
    digits = max(0, 2 - math.floor(math.log10(abs(kwh))))
    return f"{kwh:.{digits}f}"


def missing_reasons(summary: dict) -> list[str]:
    """Why each figure the table shows as `-` is missing, from the job_summary row."""
    if summary.get("status") != "ok":
        return []
    if summary.get("energy_j") is None:
        return ["energy: no Energy series in the file (so no cost or CO2 either)"]
    reasons = []
    if summary.get("cost_eur") is None:
        reasons.append(f"cost: {summary.get('cost_note') or 'no price configured'}")
    if summary.get("co2_g") is None:
        reasons.append(f"CO2: {summary.get('co2_note') or 'no carbon intensity configured'}")
    return reasons


def shorten(text: str, limit: int = REASON_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 15].rstrip() + "... (see --json)"


# (heading, width) of the figure columns after the file name; two spaces between columns.
FIGURE_COLUMNS = (
    ("energy J", 10),
    ("kWh", 8),
    ("time s", 6),
    ("avg W", 7),
    ("EUR", 7),
    ("CO2 g", 6),
)


def _figures(summary: dict) -> list[str]:
    if summary.get("status") != "ok":
        return ["failed", "", "", "", "", ""]

    def num(value, digits):
        return "-" if value is None else f"{value:,.{digits}f}"

    energy_j = summary.get("energy_j")
    return [
        num(energy_j, 1 if energy_j is None or abs(energy_j) < 1e6 else 0),
        kwh_text(energy_j),
        num(summary.get("time_to_solution_s"), 0),
        num(summary.get("avg_power_w"), 1),
        num(summary.get("cost_eur"), 4),
        num(summary.get("co2_g"), 1),
    ]


def outcome_lines(rows: list[tuple[str, dict]], *, width: int = 80) -> list[str]:
    """`rows`: (file name as shown, job_summary row) -> lines of at most `width` characters.

    A file name longer than its column gets a line of its own; each reason is indented under
    its file, wrapped, and shortened to REASON_CHARS (the full text is in `--json`).
    """
    figures_width = sum(w + 2 for _, w in FIGURE_COLUMNS)
    name_width = max(12, width - figures_width)

    def line(name: str, cells: list[str]) -> str:
        parts = [name.ljust(name_width)]
        for (_, column_width), cell in zip(FIGURE_COLUMNS, cells, strict=True):
            parts.append(cell.rjust(column_width))
        return "  ".join(parts).rstrip()

    notes_of = [
        _left_out(s) + missing_reasons(s) + _work_note(s)
        if s.get("status") == "ok"
        else [f"reason: {_error_of(s)}"]
        for _, s in rows
    ]
    # A reason shared by every job with energy (no price configured, ...) is said once.
    with_energy = [set(n) for (_, s), n in zip(rows, notes_of, strict=True) if _has_energy(s)]
    shared = set.intersection(*with_energy) if len(with_energy) > 1 else set()
    lines = [line("job", [h for h, _ in FIGURE_COLUMNS])]
    for (name, summary), notes in zip(rows, notes_of, strict=True):
        if len(name) > name_width:
            lines.append(name)
            name = ""
        lines.append(line(name, _figures(summary)))
        if work := work_text(summary):
            lines.extend(_wrapped(work, width, "    "))
        for note in notes:
            if note not in shared:
                lines.extend(_wrapped(note, width, "    "))
    for note in sorted(shared):
        lines.extend(_wrapped(f"{note} (every job with energy)", width, "- "))
    return lines


def work_text(summary: dict) -> str | None:
    """`GFLOP/s 67.63, 2.12 GFLOP/s per W, ...`: the job's work and efficiency, or None."""
    if summary.get("status") != "ok":
        return None
    given = summary.get("work_value") if summary.get("work_unit") is not None else None
    parts = [f"{summary['work_unit']} {given:,.6g}"] if given is not None else []
    figures = (
        ("gflops", "GFLOP/s {}", 4),
        ("gflops_per_w", "{} GFLOP/s per W", 3),
        ("eur_per_gflop", "{} EUR/GFLOP", 3),
        ("mem_bandwidth_gbytes_per_s", "memory {} GB/s", 4),
    )
    for column, form, digits in figures:
        value = summary.get(column)
        if value is not None and value != given:  # a given GFLOP/s or GB/s is said once
            parts.append(form.format(f"{value:,.{digits}g}"))
    return ", ".join(parts) or None


def _work_note(summary: dict) -> list[str]:
    return [f"work: {summary['work_note']}"] if summary.get("work_note") else []


def _left_out(summary: dict) -> list[str]:
    """A job computed without some of its files says which (`1 of 4 files left out: ...`)."""
    return [summary["error"]] if summary.get("error") else []


def _has_energy(summary: dict) -> bool:
    return summary.get("status") == "ok" and summary.get("energy_j") is not None


def _error_of(summary: dict) -> str:
    """The recorded reason without the absolute path it starts with (the table names the file)."""
    error = summary.get("error") or "unknown"
    return error.removeprefix(f"{summary.get('source')}: ")


def _wrapped(note: str, width: int, indent: str) -> list[str]:
    return textwrap.wrap(
        shorten(note), width, initial_indent=indent, subsequent_indent=" " * (len(indent) + 2)
    )


_RESCAN_LABELS = {
    "listed": "objects listed",
    "profiles": "profiles (.h5)",
    "enqueued": "queued for analysis",
    "in_progress": "already queued or running",
    "up_to_date": "up to date",
    "removed": "gone from the bucket",
}


def rescan_summary(report, where: str) -> str:
    """One line per count of a RescanReport, e.g. `  3 queued for analysis`."""
    lines = [f"rescan of {where}:"]
    for item in dataclasses.fields(report):
        value = getattr(report, item.name)
        if isinstance(value, int) and not isinstance(value, bool):
            label = _RESCAN_LABELS.get(item.name, item.name.replace("_", " "))
            lines.append(f"  {value:>6}  {label}")
    return "\n".join(lines)
