"""The two Slurm profile layouts: which one a file has, its job id and step from the file name,
and its (step, node group) pairs with each node's task datasets in rank order.

A merged job file (``sh5util -j``, ``job_<id>.h5``) holds ``/Steps/<step>/Nodes/<node>``; a
node-step file (``<job>_<step>_<node>.h5``) holds one ``/<node>`` group. The pre-15.08 layout is
refused with its own reason.
"""

from __future__ import annotations

import os
import re
from typing import Literal

import h5py

from analysis_module.processing.errors import EmptyProfileError, UnsupportedLayoutError

Layout = Literal["merged", "node_step"]
SERIES = ("Energy", "Tasks", "Network", "Filesystem")
_NODE_ATTRS = ("Node Index", "Node Name", "Number of Tasks", "CPUs per Task", "Start Time")
_MERGED_JOB_FILE = re.compile(r"job_([0-9]+)")
_UINT32_WRAP = 1 << 32


def discover_layout(
    h5: h5py.File, path: str
) -> tuple[Layout, str | None, list[tuple[str, h5py.Group]]]:
    """Recognise the layout; return it, the job id and the (step, node group) pairs."""
    top = list(h5.keys())
    legacy = [name for name in top if name.startswith(("Node_", "Step_"))]
    if legacy:
        raise UnsupportedLayoutError(
            f"{path}: legacy pre-15.08 Slurm profile layout (/{legacy[0]}), written by Slurm "
            "15.03 or older; not supported (sh5util itself dropped it in 17.11)"
        )
    if "Steps" in h5:
        return "merged", _merged_job_id(path), _merged_groups(h5, path)
    if len(top) == 1 and isinstance(h5[top[0]], h5py.Group) and _is_node_group(h5[top[0]]):
        job_id, step = _parse_node_step_file_name(path)
        return "node_step", job_id, [(step, h5[top[0]])]
    if len(top) == 1 and isinstance(h5[top[0]], h5py.Group) and not h5[top[0]].keys():
        raise UnsupportedLayoutError(f"{path}: not a Slurm profile: /{top[0]} is an empty group")
    shown = ", ".join(f"/{name}" for name in top[:5]) or "nothing"
    raise UnsupportedLayoutError(
        f"{path}: not a Slurm profile: no /Steps group and no node group with Slurm "
        f"attributes or series (top level holds {shown})"
    )


def _merged_groups(h5: h5py.File, path: str) -> list[tuple[str, h5py.Group]]:
    steps = h5["Steps"]
    if not isinstance(steps, h5py.Group):
        raise UnsupportedLayoutError(f"{path}: not a Slurm profile: /Steps is not a group")
    pairs = []
    for step in steps:
        nodes = steps[step].get("Nodes") if isinstance(steps[step], h5py.Group) else None
        if isinstance(nodes, h5py.Group):
            pairs += [(step, nodes[n]) for n in nodes if isinstance(nodes[n], h5py.Group)]
    if not pairs:
        raise EmptyProfileError(
            f"{path}: merged Slurm profile without any step/node data "
            f"({len(steps)} groups under /Steps)"
        )
    return pairs


def _is_node_group(group: h5py.Group) -> bool:
    return any(a in group.attrs for a in _NODE_ATTRS) or any(s in group for s in SERIES)


def task_datasets(group: h5py.Group, path: str) -> list[tuple[int, str]]:
    """(rank, dataset name) pairs sorted numerically; HDF5 would give 0, 1, 10, 2."""
    tasks = group["Tasks"]
    if not isinstance(tasks, h5py.Group):
        raise UnsupportedLayoutError(f"{path}: {tasks.name} is not a group of task tables")
    bad = [name for name in tasks if not name.isascii() or not name.isdigit()]
    if bad:
        raise UnsupportedLayoutError(
            f"{path}: {tasks.name}/{bad[0]} is not named by a task rank (decimal)"
        )
    return sorted((int(name), name) for name in tasks)


def _merged_job_id(path: str) -> str | None:
    match = _MERGED_JOB_FILE.fullmatch(_file_stem(path))
    return match.group(1) if match else None


def _parse_node_step_file_name(path: str) -> tuple[str | None, str]:
    """``<job>_<step>_<node>``, split at the first two ``_`` as sh5util does.

    The step token is a uint32 (extern 4294967292) or ``batch``; like sh5util's merge it is
    read as a signed int, so extern becomes ``-4`` and interactive ``-6``. A name that does not
    follow the pattern gives job ``None`` and step ``"unknown"``.
    """
    parts = _file_stem(path).split("_", 2)
    if len(parts) != 3 or not parts[0].isascii() or not parts[0].isdigit():
        return None, "unknown"
    job, step, _node = parts
    if step.isascii() and step.isdigit():
        step_id = int(step)
        step = str(step_id - _UINT32_WRAP if step_id >= _UINT32_WRAP // 2 else step_id)
    return job, step


def _file_stem(path: str) -> str:
    name = os.path.basename(path)
    return name[: -len(".h5")] if name.endswith(".h5") else name
