"""Which Slurm job a profile file belongs to, from its name alone (docs/jobs.md).

slurmstepd names a node-step file `<jobid>_<step>_<node>.h5` (`<step>`: a decimal uint32 or
`batch`; extern is 4294967292, interactive 4294967290); `sh5util -j` writes `job_<jobid>.h5`.
The node-step files of one job id in one folder (a local directory or a bucket prefix) and a
merged file of the same id beside them are one job, whose key is `<folder>/job_<jobid>`. A file
whose name follows neither pattern is a job of its own, keyed by its own source.

Pure string work: the same rules for local paths and `s3://bucket/key` sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

FileRole = Literal["node_step", "merged", "single"]

_UINT32_WRAP = 1 << 32
_MERGED = re.compile(r"job_([0-9]{1,20})")
_NODE_STEP = re.compile(r"([0-9]{1,20})_([0-9]{1,10}|batch|extern|interactive)_(.+)")
# Step tokens as the merged file names them (sh5util reads the uint32 as a signed int).
_NAMED_STEPS = {"batch": "batch", "extern": "-4", "interactive": "-6"}


@dataclass(frozen=True)
class FileName:
    """What a profile's file name says: its job, and for a node-step file its step and node."""

    role: FileRole
    job_id: str | None  # decimal, no leading zeros; None for `single`
    step: str | None = None  # merged-file naming: `batch`, `0`, `-4` (extern), `-6` (interactive)
    node: str | None = None


def split_source(source: str) -> tuple[str, str]:
    """(folder, file name) of a local path or an `s3://bucket/key` source; the folder keeps no
    trailing `/` (`s3://b/alice/5_0_n1.h5` -> `s3://b/alice`, `5_0_n1.h5`)."""
    folder, _, name = source.replace("\\", "/").rpartition("/")
    return folder, name


def parse_file_name(name: str) -> FileName:
    """The role, job, step and node a file name states; anything unexpected is `single`.

    The job id is the leading number, the step the token after the first `_`, the node the rest
    (node names may hold `_` and `-`, as sh5util splits at the first two `_` only).
    """
    stem = name[:-3] if name.lower().endswith(".h5") else None
    if stem is None:
        return FileName("single", None)
    if merged := _MERGED.fullmatch(stem):
        return FileName("merged", _canonical_job(merged.group(1)))
    node_step = _NODE_STEP.fullmatch(stem)
    if node_step is None or not stem.isascii():
        return FileName("single", None)
    job, token, node = node_step.groups()
    if token.isdigit():
        step_id = int(token)
        if step_id >= _UINT32_WRAP:
            return FileName("single", None)
        step = str(step_id - _UINT32_WRAP if step_id >= _UINT32_WRAP // 2 else step_id)
    else:
        step = _NAMED_STEPS[token]
    return FileName("node_step", _canonical_job(job), step, node)


def job_source(source: str) -> str:
    """The key of the job `source` belongs to: `<folder>/job_<jobid>`, or `source` itself."""
    folder, name = split_source(source)
    parsed = parse_file_name(name)
    if parsed.job_id is None:
        return source
    return f"{folder}/job_{parsed.job_id}" if folder else f"job_{parsed.job_id}"


def is_assembled(job_key: str, source: str) -> bool:
    """Does `source` belong to a job assembled from files (not a single file of its own)?"""
    return job_key != source


def _canonical_job(digits: str) -> str:
    return str(int(digits))


# likwid-perfctr output beside a job's profiles: `flops_<jobid>.csv`, `<jobid>.csv`,
# `<jobid>_mem.csv`, or any `.csv` in a folder `job_<jobid>` (the origin's client keeps its
# files under `jobs/<benchmark>/job_<jobid>/`).
_LIKWID_STEM = re.compile(r"(?:[A-Za-z][A-Za-z0-9]*[_-])?([0-9]{1,20})(?:[_-][A-Za-z0-9]+)?")
_JOB_FOLDER = re.compile(r"job_([0-9]{1,20})")


def likwid_job_id(source: str) -> str | None:
    """The Slurm job a `.csv` source belongs to, from its folder or its name; else None."""
    folder, name = split_source(source)
    if not name.lower().endswith(".csv"):
        return None
    parent = folder.rsplit("/", 1)[-1]
    if folder_match := _JOB_FOLDER.fullmatch(parent):
        return _canonical_job(folder_match.group(1))
    if name_match := _LIKWID_STEM.fullmatch(name[: -len(".csv")]):
        return _canonical_job(name_match.group(1))
    return None


def likwid_job_keys(source: str, job_id: str) -> list[str]:
    """Job keys a LIKWID file may belong to, nearest first: `<ancestor>/job_<jobid>` for its
    folder and each folder above it (the profiles may sit higher up than the CSV)."""
    folder, _ = split_source(source)
    keys = []
    while folder:
        keys.append(f"{folder}/job_{job_id}")
        parent = folder.rsplit("/", 1)[0] if "/" in folder else ""
        if parent.endswith(":/"):  # `s3://bucket` was the last folder
            break
        folder = parent
    return keys
