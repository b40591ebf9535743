"""One job on one self-contained HTML page: headline figures, warnings, plots, files.

The page carries its own CSS and SVG; it loads nothing (a Content-Security-Policy meta tag
forbids every fetch and every script), so it works offline, from a file or from the API.
Inputs are plain rows as the results tables hold them (job_summary, job_step_node, job_files,
the job's samples), so the API and the batch CLI render the same page from their own reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from job_report.charts import Band, Series, bar_chart, line_chart
from job_report.samples import cumulative_energy_and_cost, power_by_node, steps_as_bands
from job_report.wording import (
    appliance_phrase,
    format_co2,
    format_cost,
    format_duration,
    format_energy,
    format_power,
)

Row = Mapping[str, Any]
COVERAGE_WARNING = 0.99  # below this share of node-time covered by samples, say so


@dataclass(frozen=True)
class JobReport:
    title: str  # "Slurm job 5"
    summary: Row  # the job_summary row
    steps: Sequence[Row] = ()  # job_step_node rows of level "step"
    nodes: Sequence[Row] = ()  # level "node"
    files: Sequence[Row] = ()  # job_files rows
    samples: Sequence[Row] = ()  # step, node, epoch_s, power_w, price_eur_per_mwh
    figures_of_merit: Sequence[Row] = ()  # name, value, unit; default: the summary's
    footer: str = ""  # where the page came from
    extra_warnings: Sequence[str] = field(default_factory=tuple)


def warnings_of(report: JobReport) -> list[str]:
    """What a reader must know before trusting the numbers."""
    s = report.summary
    notes = list(report.extra_warnings)
    if s.get("status") == "failed":
        notes.append(f"The analysis failed: {s.get('error') or 'no reason recorded'}.")
    coverage = s.get("coverage")
    if isinstance(coverage, float) and math.isfinite(coverage) and coverage < COVERAGE_WARNING:
        notes.append(
            f"Samples cover {coverage:.0%} of the job's node-time: energy, cost and CO2 "
            "are lower bounds."
        )
    failed = [f for f in report.files if f.get("status") == "failed"]
    for f in failed:
        notes.append(f"File {f.get('file_name')} was left out: {f.get('error') or 'unreadable'}.")
    if s.get("work_note"):
        notes.append(f"Work: {s['work_note']}.")
    if s.get("has_energy") is False:
        notes.append("No energy series in the profile: the job has no energy figures.")
    if s.get("cost_eur") is None and s.get("has_energy"):
        notes.append(f"No cost: {s.get('cost_note') or 'no price configured'}.")
    elif s.get("cost_note"):
        notes.append(f"Cost: {s['cost_note']}.")
    if s.get("co2_g") is None and s.get("has_energy"):
        notes.append(f"No CO2: {s.get('co2_note') or 'no carbon intensity configured'}.")
    elif s.get("co2_note"):
        notes.append(f"CO2: {s['co2_note']}.")
    return notes


def _headline(s: Row) -> list[tuple[str, str]]:
    energy = s.get("energy_j")
    return [
        ("Energy", format_energy(energy)),
        ("Cost", format_cost(s.get("cost_eur"))),
        ("CO2", format_co2(s.get("co2_g"))),
        ("Time to solution", format_duration(s.get("time_to_solution_s"))),
        ("Average power", format_power(s.get("avg_power_w"))),
        ("Peak power", format_power(s.get("peak_power_w"))),
        ("Coverage", _percent(s.get("coverage"))),
        ("In everyday terms", appliance_phrase(s.get("appliance"), s.get("appliance_duration_s"))),
    ]


def _percent(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.1%}"


def _facts(s: Row) -> list[tuple[str, str]]:
    def text(name: str) -> str:
        value = s.get(name)
        if isinstance(value, datetime):
            return value.isoformat(timespec="seconds")
        return "-" if value is None else str(value)

    return [
        ("Job id", text("job_id")),
        ("Benchmark", text("benchmark")),
        ("Nodes", text("n_nodes")),
        ("Steps", text("n_steps")),
        ("Tasks", text("n_tasks")),
        ("Started", text("start_time")),
        ("Ended", text("end_time")),
        ("Files", text("n_files")),
        ("Power source", text("power_source")),
        ("Energy scope", text("energy_scope")),
        ("Integration", text("integration")),
        ("Price source", text("price_source")),
        ("Carbon source", text("carbon_source")),
    ]


def _table(pairs: Sequence[tuple[str, str]], css: str) -> str:
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in pairs)
    return f'<table class="{css}">{cells}</table>'


def _files_table(files: Sequence[Row]) -> str:
    if not files:
        return ""
    head = "<tr><th>File</th><th>Role</th><th>Step</th><th>Node</th><th>Status</th></tr>"
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{escape(str(f.get(k) if f.get(k) is not None else '-'))}</td>"
            for k in ("file_name", "role", "step", "node")
        )
        + f'<td class="{escape(str(f.get("status")))}">{escape(str(f.get("status")))}'
        + (f": {escape(str(f.get('error')))}" if f.get("error") else "")
        + "</td></tr>"
        for f in files
    )
    return f'<h2>Files</h2><table class="files">{head}{rows}</table>'


# (label, job_summary column, unit) of the work and efficiency figures (energy-metrics s. 8)
WORK_SHOWN = (
    ("GFLOP/s", "gflops", ""),
    ("Work", "gflop", "GFLOP"),
    ("Memory bandwidth", "mem_bandwidth_gbytes_per_s", "GB/s"),
    ("Energy per GFLOP", "energy_per_gflop_j", "J"),
    ("GFLOP/s per W", "gflops_per_w", ""),
    ("Cost per GFLOP", "eur_per_gflop", "EUR"),
)


def figures_of_merit(summary: Row) -> list[dict[str, Any]]:
    """The job's work figures as the page lists them, from its job_summary row."""
    rows = [
        {"name": name, "value": summary[column], "unit": unit}
        for name, column, unit in WORK_SHOWN
        if isinstance(summary.get(column), int | float) and math.isfinite(summary[column])
    ]
    if summary.get("work_unit") and isinstance(summary.get("work_value"), int | float):
        given = {"name": "Figure of merit", "value": summary["work_value"]}
        rows.insert(0, {**given, "unit": summary["work_unit"]})
    return rows


def _figures_of_merit(rows: Sequence[Row]) -> str:
    if not rows:
        return ""
    pairs = [(str(r.get("name")), f"{r.get('value'):.4g} {r.get('unit') or ''}") for r in rows]
    return "<h2>Figures of merit</h2>" + _table(pairs, "facts")


def _plots(report: JobReport) -> str:
    bands: list[Band] = steps_as_bands(report.steps, report.samples)
    power = [Series(node, xs, ys) for node, (xs, ys) in power_by_node(report.samples).items()]
    energy, cost = cumulative_energy_and_cost(report.samples)
    parts = [
        line_chart(
            power, title="Power per node", y_label="W", bands=bands, chart_id="power-per-node"
        ),
        line_chart(
            [Series("energy", energy[0], [v / 3.6e6 for v in energy[1]])],
            title="Cumulative energy (from the plotted samples)",
            y_label="kWh",
            chart_id="cumulative-energy",
        ),
    ]
    if cost[0]:
        parts.append(
            line_chart(
                [Series("cost", *cost)],
                title="Cumulative cost",
                y_label="EUR",
                chart_id="cumulative-cost",
            )
        )
    parts.append(
        bar_chart(
            [(str(r.get("step")), _kwh(r.get("energy_j"))) for r in report.steps],
            title="Energy per step (a node shared by two steps counts in both)",
            unit="kWh",
            chart_id="energy-per-step",
        )
    )
    parts.append(
        bar_chart(
            [(str(r.get("node")), _kwh(r.get("energy_j"))) for r in report.nodes],
            title="Energy per node",
            unit="kWh",
            chart_id="energy-per-node",
        )
    )
    return "".join(parts)


def _kwh(energy_j: float | None) -> float | None:
    return None if energy_j is None else energy_j / 3.6e6


STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:820px;
padding:16px;color:#1b1f24;background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.4em 0 .4em}
.headline{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:8px}
.headline div{border:1px solid #d8dee4;border-radius:6px;padding:8px}
.headline b{display:block;font-size:1.25em}.headline span{color:#57606a;font-size:.85em}
.warnings{background:#fff8e5;border:1px solid #e3b341;border-radius:6px;padding:8px 12px}
.warnings li{margin:.2em 0}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
td.failed{color:#b42318}svg.chart{width:100%;height:auto}
.grid{stroke:#eaeef2}.tick{font-size:11px;fill:#57606a}.axis{font-size:12px;fill:#1b1f24}
.band-label{font-size:10px;fill:#57606a}figure{margin:1em 0}figcaption{font-weight:600}
.legend{font-size:12px;color:#57606a}.key{margin-right:12px;white-space:nowrap}
.key i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
footer{margin-top:2em;color:#57606a;font-size:.85em}
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"


def render_report(report: JobReport) -> str:
    """The whole page as one string (UTF-8 HTML5)."""
    headline = "".join(
        f"<div><span>{escape(k)}</span><b>{escape(v)}</b></div>"
        for k, v in _headline(report.summary)
    )
    notes = warnings_of(report)
    warning_list = (
        '<ul class="warnings">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>"
        if notes
        else ""
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(report.title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(report.title)}</h1>"
        f'<section class="headline">{headline}</section>{warning_list}'
        f"<h2>Plots</h2>{_plots(report)}"
        f"{_figures_of_merit(report.figures_of_merit or figures_of_merit(report.summary))}"
        f"<h2>The job</h2>{_table(_facts(report.summary), 'facts')}"
        f"{_files_table(report.files)}"
        f"<footer>{escape(report.footer)}</footer></body></html>\n"
    )
