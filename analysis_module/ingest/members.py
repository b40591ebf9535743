"""Objects that are files of a Slurm job (docs/jobs.md): which job, what the upload said, and
the cheap check a file gets on arrival before its job is analysed.

A node-step file (`<jobid>_<step>_<node>.h5`) or a merged `job_<jobid>.h5` belongs to the job
`<folder>/job_<jobid>` of its bucket prefix; any other `.h5` object is a job of its own and
keeps the per-object analysis. A `.csv` whose folder or name gives a job id is likwid-perfctr
output of the nearest job of that id above it that has profiles (`likwid_job_of`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from analysis_module.pipeline_core.ingest_objects import ObjectRow
from analysis_module.pipeline_core.job_files import (
    is_assembled,
    job_source,
    likwid_job_id,
    likwid_job_keys,
)
from analysis_module.pipeline_core.work import WorkSpecError, parse_work_spec
from analysis_module.processing import ProfileError, ReadLimits, open_profile

BENCHMARK_METADATA = "benchmark-name"  # `x-amz-meta-benchmark-name`, as the API stores it
_BENCHMARK = re.compile(r"[A-Za-z0-9._-]{1,128}")  # the API's rule (check_benchmark_name)
WORK_METADATA = "work"  # `x-amz-meta-work`: a figure of merit, `UNIT=VALUE` (`GFLOP/s=1234`)
SET_BY_UPLOAD = "upload"


def job_of(source: str) -> str | None:
    """The key of the job whose file `source` is, or None for a file that is a job of its own."""
    job = job_source(source)
    return job if is_assembled(job, source) else None


def is_likwid(source: str) -> bool:
    """LIKWID output of a job (a `.csv` whose folder or name gives the job id)."""
    return source.lower().endswith(".csv") and likwid_job_id(source) is not None


def likwid_candidates(source: str) -> list[str]:
    """The job keys the LIKWID file `source` may belong to, nearest first."""
    job_id = likwid_job_id(source)
    return likwid_job_keys(source, job_id) if job_id is not None else []


def has_profiles(rows: Iterable[ObjectRow]) -> bool:
    return any(not is_likwid(row.source) for row in rows)


async def likwid_job_of(tx, bucket: str, source: str) -> str | None:
    """The nearest job the LIKWID file may belong to that has profile rows; None if none yet."""
    for key in likwid_candidates(source):
        if has_profiles(await tx.job_members(bucket, key)):
            return key
    return None


def outside_its_job(row: ObjectRow) -> bool:
    """A file of a job whose row names no job: analysed on its own by an earlier release."""
    return row.job_source is None and job_of(row.source) is not None


def upload_benchmark(metadata: Mapping[str, str] | None) -> str | None:
    """The benchmark name an upload carries, when it is one the API would have accepted."""
    name = (metadata or {}).get(BENCHMARK_METADATA)
    return name if name and _BENCHMARK.fullmatch(name) else None


def job_benchmark(names: Iterable[str | None]) -> str | None:
    """The job's benchmark from its files' uploads: the most frequent name (ties: the first
    in key order), None when no file named one."""
    named = [name for name in names if name]
    if not named:
        return None
    counts = Counter(named)
    return max(named, key=lambda name: (counts[name], -named.index(name)))


def upload_work(metadata: Mapping[str, str] | None) -> str | None:
    """The figure of merit an upload carries, as given (on one line), or None. It is read when
    its job is analysed (`job_work`): a value that can't be read is ignored there, with why."""
    text = " ".join(((metadata or {}).get(WORK_METADATA) or "").split())
    return text or None


def job_work(rows: Sequence[ObjectRow]) -> tuple[tuple[str, float] | None, str | None]:
    """The job's figure of merit from its files' uploads, (unit, value) as the CLI's `--work`
    gives it, and a note for the job's `work_note` (or None).

    Each file's value is read as `--work` would be; one that can't be is left out, and the note
    says which and why: the job's energy figures never depend on it. When the files disagree,
    the most frequent figure wins (the same unit and value, however written), a tie going to
    the first file in key order, as `job_benchmark` picks; the note says so. (None, None) when
    no file's upload gave one.
    """
    figures: list[tuple[str, float]] = []
    notes = []
    for row in rows:
        if not row.work:
            continue
        try:
            figures.append(parse_work_spec(row.work))
        except WorkSpecError as exc:
            notes.append(f"{row.key.rpartition('/')[2]}: the upload's work is ignored: {exc}")
    chosen = None
    if figures:
        counts = Counter(figures)
        chosen = max(figures, key=lambda figure: (counts[figure], -figures.index(figure)))
        if len(counts) > 1:
            unit, value = chosen
            notes.append(
                f"the files' uploads give {len(counts)} different figures of merit; "
                f"{unit}={value:g}, given by {counts[chosen]} of {len(figures)}, is used"
            )
    return chosen, "; ".join(notes)[:500] or None


def check_file(path: Path, limits: ReadLimits | None, label: str) -> str | None:
    """Open the profile and close it again (structure only); the reason it is unreadable,
    naming it by `label` instead of the download path, or None."""
    try:
        with open_profile(path, limits):
            return None
    except (ProfileError, OSError) as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        return text.replace(str(path), label)[:1000]
