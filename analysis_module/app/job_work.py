"""The work a job did (docs/energy-metrics.md section 8): likwid-perfctr files beside its
profiles and a figure of merit given with the job, as the job_summary work columns.

A LIKWID file that cannot be read is a failed `likwid` file of the job with its one-line
reason; the job's energy figures never depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from analysis_module.pipeline_core.job_files import split_source
from analysis_module.pipeline_core.work import (
    Work,
    given_work,
    likwid_work,
    unreadable_work,
    work_columns,
)
from analysis_module.processing.likwid_csv import LikwidFormatError, parse_likwid_csv


@dataclass(frozen=True)
class LikwidRead:
    """What the job's LIKWID files gave: their groups, and per file None or its reason."""

    groups: tuple
    errors: tuple[str | None, ...]
    names: tuple[str, ...]


def likwid_name(job_source: str, file_source: str) -> str:
    """The file's name relative to the job's folder (`mybench/job_5/flops_5.csv`)."""
    folder = split_source(job_source)[0]
    if folder and file_source.replace("\\", "/").startswith(folder + "/"):
        return file_source.replace("\\", "/")[len(folder) + 1 :]
    return split_source(file_source)[1]


def read_likwid(job_source: str, files) -> LikwidRead:
    """Parse each LIKWID file (`FileInput`s); a file that cannot be read keeps its reason."""
    groups: list = []
    errors: list[str | None] = []
    for item in files:
        try:
            result = parse_likwid_csv(item.path.read_bytes())
        except LikwidFormatError as exc:
            errors.append(f"not likwid-perfctr CSV output: {exc.reason}"[:1000])
            continue
        except OSError as exc:
            errors.append(f"cannot be read: {' '.join(str(exc).split())}"[:1000])
            continue
        groups.extend(result.groups)
        errors.append(None)
    names = tuple(likwid_name(job_source, item.source) for item in files)
    return LikwidRead(tuple(groups), tuple(errors), names)


def job_work(read: LikwidRead, given: tuple[str, float] | None, metrics: dict) -> Work | None:
    """LIKWID's figures with a given figure of merit on top: the given unit and value win,
    and fill the FLOP or bandwidth figures LIKWID did not measure."""
    likwid = _likwid(read)
    if given is None:
        return likwid
    stated = given_work(*given, metrics.get("time_to_solution_s"))
    if likwid is None:
        return stated
    measured_flop = likwid.gflop is not None or likwid.gflops is not None
    return replace(
        likwid,
        unit=stated.unit,
        value=stated.value,
        runtime_s=likwid.runtime_s if likwid.runtime_s is not None else stated.runtime_s,
        gflops=likwid.gflops if measured_flop else stated.gflops,
        gflop=likwid.gflop if measured_flop else stated.gflop,
        mem_bandwidth_gbytes_per_s=likwid.mem_bandwidth_gbytes_per_s
        if likwid.mem_bandwidth_gbytes_per_s is not None
        else stated.mem_bandwidth_gbytes_per_s,
    )


def job_work_columns(
    read: LikwidRead, given: tuple[str, float] | None, metrics: dict, note: str | None = None
) -> dict:
    """The summary's work columns (empty when the job has no work); `note` about the given
    figure joins the work note (alone, it is a given work without figures)."""
    work = job_work(read, given, metrics)
    if note:
        joined = "; ".join(n for n in (work.note if work else None, note) if n)[:500]
        work = replace(work, note=joined) if work else Work("given", note=joined)
    return work_columns(work, energy_j=metrics.get("energy_j"), cost_eur=metrics.get("cost_eur"))


def _likwid(read: LikwidRead) -> Work | None:
    if not read.names:
        return None
    failed = [
        unreadable_work(name, error).note
        for name, error in zip(read.names, read.errors, strict=True)
        if error is not None
    ]
    if len(failed) == len(read.names):
        return Work("likwid", note="; ".join(failed)[:500])
    work = likwid_work(read.groups)
    notes = [n for n in (*failed, work.note) if n]
    return replace(work, note="; ".join(notes)[:500] if notes else None)
