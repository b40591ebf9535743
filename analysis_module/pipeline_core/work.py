"""Work done by a job and its energy efficiency (docs/energy-metrics.md section 8).

Work comes from likwid-perfctr output beside the job's profiles (a group's GFLOP and GFLOP/s,
memory bandwidth), or from a figure of merit given with the job (`--work GFLOP/s=1234`, as HPL
or STREAM print their own). Efficiency combines it with the job's measured energy and cost:
joules per GFLOP, GFLOP per joule (= GFLOP/s per W, the Green500 measure) and euro per GFLOP.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

# Units a given figure may carry, and what they mean for the FLOP columns: a rate (per second)
# or an amount. Other units are kept as they are, with no FLOP columns.
_FLOP_RATE_UNITS = {"gflop/s": 1.0, "gflops": 1.0, "tflop/s": 1000.0, "mflop/s": 0.001}
_FLOP_AMOUNT_UNITS = {"gflop": 1.0, "tflop": 1000.0}
_BANDWIDTH_UNITS = {"gb/s": 1.0, "gbytes/s": 1.0, "mb/s": 0.001}
_UNIT = re.compile(r"[A-Za-z][A-Za-z0-9/_.%-]{0,31}")


class WorkSpecError(ValueError):
    """A `--work` value that is not `UNIT=VALUE`."""


@dataclass(frozen=True)
class Work:
    """What a job did, before it is divided by energy or cost."""

    source: str  # "likwid" | "given"
    group: str | None = None  # the LIKWID group
    unit: str | None = None  # a given figure's unit
    value: float | None = None  # a given figure's value
    runtime_s: float | None = None
    gflops: float | None = None
    gflop: float | None = None
    mem_bandwidth_gbytes_per_s: float | None = None
    note: str | None = None


def parse_work_spec(text: str) -> tuple[str, float]:
    """`GFLOP/s=1234.5` -> ("GFLOP/s", 1234.5); a one-line error otherwise."""
    unit, sep, number = text.partition("=")
    unit = unit.strip()
    if not sep or not _UNIT.fullmatch(unit):
        raise WorkSpecError(
            f"work {text[:40]!r} is not UNIT=VALUE (for example GFLOP/s=1234 or GB/s=180)"
        )
    try:
        value = float(number)
    except ValueError:
        raise WorkSpecError(f"work {unit}: {number.strip()[:40]!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise WorkSpecError(f"work {unit}: the value must be a finite number >= 0")
    return unit, value


def given_work(unit: str, value: float, time_to_solution_s: float | None) -> Work:
    """A figure of merit the benchmark printed; a FLOP rate or amount also fills the FLOP
    columns (a rate holds over the job's time to solution)."""
    key = unit.lower()
    gflops = gflop = bandwidth = None
    if key in _FLOP_RATE_UNITS:
        gflops = value * _FLOP_RATE_UNITS[key]
        if time_to_solution_s:
            gflop = gflops * time_to_solution_s
    elif key in _FLOP_AMOUNT_UNITS:
        gflop = value * _FLOP_AMOUNT_UNITS[key]
        if time_to_solution_s:
            gflops = gflop / time_to_solution_s
    elif key in _BANDWIDTH_UNITS:
        bandwidth = value * _BANDWIDTH_UNITS[key]
    return Work(
        "given",
        unit=unit,
        value=value,
        runtime_s=time_to_solution_s,
        gflops=gflops,
        gflop=gflop,
        mem_bandwidth_gbytes_per_s=bandwidth,
    )


def likwid_work(groups: Sequence) -> Work:
    """Work of likwid-perfctr groups (`processing.likwid_csv.GroupFigures`): the FLOP figures
    of the first group that measured them (double precision first), memory bandwidth from
    any group that has it, the longest runtime."""
    if not groups:
        return Work("likwid", note="the LIKWID file measured no group")
    flop_group = next((g for g in groups if g.gflop_dp is not None), None)
    precision = "dp"
    if flop_group is None:
        flop_group = next((g for g in groups if g.gflop_sp is not None), None)
        precision = "sp"
    bandwidth = next(
        (g.mem_bandwidth_gbytes_per_s for g in groups if g.mem_bandwidth_gbytes_per_s is not None),
        None,
    )
    runtimes = [g.runtime_s for g in groups if g.runtime_s is not None]
    chosen = flop_group or groups[0]
    note = None
    if flop_group is None and bandwidth is None:
        note = f"LIKWID group {chosen.group} measures neither FLOP nor memory bandwidth"
    return Work(
        "likwid",
        group=chosen.group,
        runtime_s=max(runtimes) if runtimes else None,
        gflops=getattr(flop_group, f"gflops_{precision}") if flop_group else None,
        gflop=getattr(flop_group, f"gflop_{precision}") if flop_group else None,
        mem_bandwidth_gbytes_per_s=bandwidth,
        note=note,
    )


def unreadable_work(file_name: str, reason: str) -> Work:
    """A LIKWID file beside the job that could not be read: the reason, no figures."""
    return Work("likwid", note=f"{file_name}: {reason}"[:500])


def work_columns(work: Work | None, *, energy_j: float | None, cost_eur: float | None) -> dict:
    """The job_summary work columns (schema WORK_FIELDS) of `work` with the job's energy."""
    if work is None:
        return {}
    per_joule = per_gflop = eur = None
    note = work.note
    if work.gflop is not None and work.gflop > 0:
        if energy_j is not None and energy_j > 0:
            per_gflop = energy_j / work.gflop
            per_joule = work.gflop / energy_j
        elif note is None:
            note = "no energy measured: no efficiency figures"
        if cost_eur is not None:
            eur = cost_eur / work.gflop
    values = asdict(work)
    return {
        "work_source": values["source"],
        "work_group": values["group"],
        "work_unit": values["unit"],
        "work_value": values["value"],
        "work_runtime_s": values["runtime_s"],
        "gflops": values["gflops"],
        "gflop": values["gflop"],
        "mem_bandwidth_gbytes_per_s": values["mem_bandwidth_gbytes_per_s"],
        "energy_per_gflop_j": per_gflop,
        "gflops_per_w": per_joule,
        "eur_per_gflop": eur,
        "work_note": note,
    }
