"""Synthetic Slurm ``acct_gather_profile/hdf5`` files, written the way Slurm writes them.

Follows Slurm's HDF5 profile layout (see docs/energy-metrics.md s. 7) so ``sh5util`` 22.05 accepts
the output: (1,)-shaped attributes written through the low-level API (fixed NUL-terminated
strings need ``mtype=`` or h5py drops the last character), packed little-endian compound tables
``ElapsedTime``, ``EpochTime``, fields..., ``chunks=(10,)``, unlimited, gzip level 0.

Two ways in: ``write_job_file``/``write_node_step_file`` take whole arrays (tests, small files);
``write_synthetic_job`` generates and appends blocks through ``append_rows`` so memory stays
bounded for multi-GB benchmark files. Start times are formatted in UTC for reproducibility.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

_U64, _F64 = np.dtype("<u8"), np.dtype("<f8")
TIME_DTYPE = [("ElapsedTime", _U64), ("EpochTime", _U64)]
# member order of Slurm 23.02+ (jobacct_gather common_jag.c); GPU fields only when tracked
TASK_FIELDS = {
    "CPUFrequency": _U64,
    "CPUTime": _F64,
    "CPUUtilization": _F64,
    "GPUMemMB": _U64,
    "GPUUtilization": _F64,
    "RSS": _U64,
    "VMSize": _U64,
    "Pages": _U64,
    "ReadMB": _F64,
    "WriteMB": _F64,
}
GPU_TASK_FIELDS = ("GPUMemMB", "GPUUtilization")
UNTRACKED_GPU_MEM_MB = 2**44 - 1  # 17592186044415, seen on every record after the first
UNTRACKED_GPU_UTIL = float(2**64)  # 1.8446744073709552e19
UNTRACKED_FIRST_GPU_MEM_MB = 0x7F3A_9C00_1D40  # a pointer-like garbage value
NETWORK_FIELDS = {"PacketsIn": _U64, "PacketsOut": _U64, "InMB": _F64, "OutMB": _F64}
FILESYSTEM_FIELDS = {"Reads": _U64, "ReadMB": _F64, "Writes": _U64, "WriteMB": _F64}
STEP_IDS_AS_UINT32 = {"-4": "4294967292", "-6": "4294967290"}  # extern, interactive
_START_TIME_FORMAT = "%a %b %d %H:%M:%S %Y"
DEFAULT_BLOCK_ROWS = 1_000_000


@dataclass(frozen=True)
class TaskSeries:
    """One task's samples: ``fields`` by Slurm name; omitted fields get plausible defaults.

    ``gpu=True`` adds ``GPUMemMB``/``GPUUtilization`` (Slurm 23.02+ with gpumem/gpuutil TRES).
    ``gpu_untracked=True`` adds them as a CPU-only production node (23.11+) records them:
    uninitialised memory (``UNTRACKED_GPU_MEM_MB``, ``UNTRACKED_GPU_UTIL``) after the first
    record, a 0 utilisation and a garbage ``GPUMemMB`` on it.
    """

    epochs: np.ndarray
    fields: Mapping[str, np.ndarray] = field(default_factory=dict)
    gpu: bool = False
    gpu_untracked: bool = False


@dataclass(frozen=True)
class NodeSpec:
    """One node of one step. ``energy`` maps field name -> values; the dtype (uint64 or float64)
    decides the member type. Series left ``None`` are not written, like a disabled plugin.
    ``omit_attrs`` leaves out node attributes by name, as older Slurm versions did."""

    name: str
    index: int = 0
    start_epoch: int = 1_700_000_000
    energy: dict[str, np.ndarray] | None = None
    energy_epochs: np.ndarray | None = None
    tasks: dict[int, TaskSeries] | None = None
    network: dict[str, np.ndarray] | None = None
    network_epochs: np.ndarray | None = None
    filesystem: dict[str, np.ndarray] | None = None
    filesystem_epochs: np.ndarray | None = None
    cpus_per_task: int = 1
    n_tasks: int | None = None  # None: number of entries in ``tasks``
    omit_attrs: frozenset[str] = frozenset()


@dataclass(frozen=True)
class StepSpec:
    """A step of a merged file: ``batch``, a decimal id, ``-4`` (extern) or ``-6``."""

    name: str
    nodes: list[NodeSpec]


def write_job_file(
    path: str | os.PathLike[str], *, job_id: int | str, steps: Sequence[StepSpec]
) -> Path:
    """Write a merged ``sh5util -j`` file; a directory ``path`` gets ``job_<job_id>.h5``.

    Reproduces sh5util's bug: ``Number of Nodes`` is missing on the last step it processes
    (steps sorted by id, batch = -2), so a single-step file has none.
    """
    target = Path(path)
    if target.is_dir():
        target = target / f"job_{job_id}.h5"
    last_processed = max(steps, key=lambda s: _sh5util_step_id(s.name)).name if steps else None
    with h5py.File(target, "w") as h5:
        write_int_attr(h5, "Number of Steps", len(steps))
        steps_group = h5.create_group("Steps")
        for step in steps:
            step_group = steps_group.create_group(step.name)
            if step.name != last_processed:
                write_int_attr(step_group, "Number of Nodes", len(step.nodes))
            nodes_group = step_group.create_group("Nodes")
            for node in step.nodes:
                write_node_group(nodes_group, node)
    return target


def write_node_step_file(
    path: str | os.PathLike[str],
    *,
    node: NodeSpec,
    job_id: int | str | None = None,
    step: str | None = None,
) -> Path:
    """Write a slurmstepd node-step file (root group ``/<node>``).

    A directory ``path`` gets ``<job>_<step>_<node>.h5`` (``job_id`` and ``step`` required).
    """
    target = Path(path)
    if target.is_dir():
        if job_id is None or step is None:
            raise ValueError("job_id and step are needed to name a node-step file")
        target = target / node_step_file_name(job_id, step, node.name)
    with h5py.File(target, "w") as h5:
        write_node_group(h5, node)
    return target


def node_step_file_name(job_id: int | str, step: str, node: str) -> str:
    """slurmstepd's file name: the step as uint32 (extern 4294967292) or ``batch``."""
    return f"{job_id}_{STEP_IDS_AS_UINT32.get(step, step)}_{node}.h5"


def write_legacy_file(path: str | os.PathLike[str]) -> Path:
    """A minimal pre-15.08 merged file (``/Step_0/Nodes/Node_n1/Time Series/Energy``)."""
    target = Path(path)
    with h5py.File(target, "w") as h5:
        node = h5.create_group("Step_0/Nodes/Node_n1")
        write_str_attr(node, "Node Name", "n1")
        write_int_attr(node, "Number of Tasks", 1)
        sample = np.zeros(1, dtype=[("Date_Time", "S24"), ("Time", _U64), ("Power", _U64)])
        node.create_dataset(
            "Time Series/Energy/Energy_0000000001/Energy_0000000001 Data", data=sample
        )
    return target


def write_node_group(parent: h5py.Group, node: NodeSpec) -> h5py.Group:
    """``<parent>/<node>`` with Slurm's attributes and every series ``node`` has."""
    group = parent.create_group(node.name)
    write_node_attrs(group, node)
    series = (
        ("Energy", node.energy, node.energy_epochs, None),
        ("Network", node.network, node.network_epochs, NETWORK_FIELDS),
        ("Filesystem", node.filesystem, node.filesystem_epochs, FILESYSTEM_FIELDS),
    )
    for name, values, epochs, types in series:
        if values is not None:
            if epochs is None:
                raise ValueError(f"{node.name}: {name} values given without epochs")
            append_rows(group, name, series_rows(epochs, node.start_epoch, values, types))
    for rank, task in sorted((node.tasks or {}).items()):
        rows = series_rows(
            task.epochs, node.start_epoch, default_task_fields(task, rank), TASK_FIELDS
        )
        append_rows(group, f"Tasks/{rank}", rows)
    return group


def write_node_attrs(group: h5py.Group, node: NodeSpec) -> None:
    n_tasks = node.n_tasks if node.n_tasks is not None else len(node.tasks or {})
    start_time = time.strftime(_START_TIME_FORMAT, time.gmtime(node.start_epoch))
    for name, value in (
        ("Node Index", node.index),
        ("Node Name", node.name),
        ("Number of Tasks", n_tasks),
        ("CPUs per Task", node.cpus_per_task),
        ("Start Time", start_time),
    ):
        if name in node.omit_attrs:
            continue
        if isinstance(value, str):
            write_str_attr(group, name, value)
        else:
            write_int_attr(group, name, value)


def write_int_attr(obj: h5py.Group | h5py.File, name: str, value: int) -> None:
    """An H5T_NATIVE_INT attribute with dataspace (1,), as Slurm writes it."""
    space = h5py.h5s.create_simple((1,))
    attr = h5py.h5a.create(obj.id, name.encode(), h5py.h5t.NATIVE_INT32, space)
    attr.write(np.array([value], dtype=np.int32), mtype=h5py.h5t.NATIVE_INT32)


def write_str_attr(obj: h5py.Group | h5py.File, name: str, text: str) -> None:
    """A fixed-size STR_NULLTERM string of exactly strlen bytes (no NUL stored), dataspace (1,)."""
    raw = text.encode("ascii")
    string_type = h5py.h5t.C_S1.copy()
    string_type.set_size(max(len(raw), 1))
    string_type.set_strpad(h5py.h5t.STR_NULLTERM)
    space = h5py.h5s.create_simple((1,))
    attr = h5py.h5a.create(obj.id, name.encode(), string_type, space)
    attr.write(np.array([raw], dtype=f"S{max(len(raw), 1)}"), mtype=string_type)


def series_rows(
    epochs: np.ndarray,
    start_epoch: int,
    values: Mapping[str, np.ndarray],
    types: Mapping[str, np.dtype] | None,
) -> np.ndarray:
    """A packed compound block; ``types`` None means "from each array's dtype" (Energy).

    ``ElapsedTime`` is ``epoch - start_epoch`` stored as u64, so an epoch before the step start
    wraps to a huge value exactly as Slurm's C code does.
    """
    epochs_s = np.asarray(epochs, dtype=np.int64)
    members = [(name, _member_type(name, array, types)) for name, array in values.items()]
    rows = np.empty(len(epochs_s), dtype=np.dtype(TIME_DTYPE + members))
    rows["ElapsedTime"] = (epochs_s - np.int64(start_epoch)).view(np.uint64)
    rows["EpochTime"] = epochs_s.view(np.uint64)
    for name, array in values.items():
        rows[name] = array
    return rows


def append_rows(group: h5py.Group, name: str, rows: np.ndarray) -> None:
    """Append a block to series ``name`` (creating it, and intermediate groups, on first use)."""
    if name not in group:
        group.create_dataset(
            name,
            data=rows,
            chunks=(10,),
            maxshape=(None,),
            compression="gzip",
            compression_opts=0,
        )
        return
    ds = group[name]
    start = ds.shape[0]
    ds.resize((start + len(rows),))
    ds[start:] = rows


def default_task_fields(task: TaskSeries, rank: int) -> dict[str, np.ndarray]:
    """``task.fields`` completed with defaults: ~99 % busy, 2.4 GHz, RSS growing per rank."""
    n = len(task.epochs)
    # Slurm's first record has zero deltas
    interval_s = np.diff(np.asarray(task.epochs, dtype=np.float64), prepend=task.epochs[:1])
    defaults = {
        "CPUFrequency": np.full(n, 2_400_000, dtype=_U64),  # kHz, from sysfs
        "CPUTime": 0.99 * interval_s,
        "CPUUtilization": np.where(interval_s > 0, 99.0, 0.0),
        "GPUMemMB": np.full(n, 1024, dtype=_U64),
        "GPUUtilization": np.where(interval_s > 0, 80.0, 0.0),
        "RSS": np.full(n, 100_000 + 1_000 * rank, dtype=_U64),
        "VMSize": np.full(n, 200_000 + 1_000 * rank, dtype=_U64),
        "Pages": np.zeros(n, dtype=_U64),
        "ReadMB": np.zeros(n),
        "WriteMB": np.zeros(n),
    }
    if task.gpu_untracked:
        defaults["GPUMemMB"] = np.full(n, UNTRACKED_GPU_MEM_MB, dtype=_U64)
        defaults["GPUMemMB"][:1] = UNTRACKED_FIRST_GPU_MEM_MB
        defaults["GPUUtilization"] = np.full(n, UNTRACKED_GPU_UTIL)
        defaults["GPUUtilization"][:1] = 0.0
    has_gpu_fields = task.gpu or task.gpu_untracked
    wanted = [f for f in TASK_FIELDS if has_gpu_fields or f not in GPU_TASK_FIELDS]
    return {f: task.fields[f] if f in task.fields else defaults[f] for f in wanted}


def power_pattern(
    epochs: np.ndarray, pattern: Sequence[int] = (100, 250, 150), seconds_per_level: int = 5
) -> np.ndarray:
    """The slurmlab pm_counters emulator's power in W: ``pattern[(t // s) % len(pattern)]``."""
    levels_w = np.asarray(pattern, dtype=np.uint64)
    seconds = np.asarray(epochs, dtype=np.int64)
    return levels_w[(seconds // seconds_per_level) % len(levels_w)]


def true_energy_left(
    epochs: np.ndarray, power: np.ndarray | Callable[[np.ndarray], np.ndarray]
) -> float:
    """Energy in J over ``[epochs[0], epochs[-1])``.

    With ``power`` as samples: left rectangles, ``sum(power[i] * (epochs[i+1] - epochs[i]))``,
    which equals the truth when the power is constant per second and sampled every second. With
    ``power`` as a function of the second (e.g. ``power_pattern``): the exact per-second sum,
    what the emulator's energy counter reports.
    """
    seconds = np.asarray(epochs, dtype=np.int64)
    if len(seconds) < 2:
        return 0.0
    if callable(power):
        every_second = np.arange(seconds[0], seconds[-1], dtype=np.int64)
        return float(np.sum(power(every_second), dtype=np.float64))
    samples = np.asarray(power, dtype=np.float64)
    return float(np.sum(samples[:-1] * np.diff(seconds)))


def write_synthetic_job(
    path: str | os.PathLike[str],
    *,
    n_nodes: int,
    tasks_per_node: int,
    duration_s: int,
    step: str = "0",
    start_epoch: int = 1_700_000_000,
    pattern: Sequence[int] = (100, 250, 150),
    seconds_per_level: int = 5,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> Path:
    """A merged one-step file sampled at 1 Hz (Energy + Tasks), streamed in ``block_rows``.

    Memory stays around ``block_rows`` x 80 bytes however long the job, so the 9 GB benchmark
    file (64 nodes x 16 tasks x 24 h) can be written on a small machine.
    """
    target = Path(path)
    with h5py.File(target, "w") as h5:
        write_int_attr(h5, "Number of Steps", 1)
        nodes_group = h5.create_group(f"Steps/{step}/Nodes")  # single step: no Number of Nodes
        for index in range(n_nodes):
            node = NodeSpec(
                name=f"node{index:03d}",
                index=index,
                start_epoch=start_epoch,
                n_tasks=tasks_per_node,
            )
            group = nodes_group.create_group(node.name)
            write_node_attrs(group, node)
            for first_s in range(0, duration_s + 1, block_rows):
                epochs = start_epoch + np.arange(first_s, min(first_s + block_rows, duration_s + 1))
                power_w = power_pattern(epochs, pattern, seconds_per_level)
                energy = series_rows(epochs, start_epoch, {"Power": power_w}, None)
                append_rows(group, "Energy", energy)
            for rank in range(index * tasks_per_node, (index + 1) * tasks_per_node):
                _append_task_blocks(group, rank, start_epoch, duration_s, block_rows)
    return target


def _append_task_blocks(
    group: h5py.Group, rank: int, start_epoch: int, duration_s: int, block_rows: int
) -> None:
    # tasks start polling one second after the step, like Slurm's first poll at ElapsedTime 1
    for first_s in range(1, duration_s + 1, block_rows):
        epochs = start_epoch + np.arange(first_s, min(first_s + block_rows, duration_s + 1))
        fields = default_task_fields(TaskSeries(epochs), rank)
        if first_s > 1:  # only the task's very first record has zero deltas
            fields["CPUTime"][0], fields["CPUUtilization"][0] = 0.99, 99.0
        append_rows(group, f"Tasks/{rank}", series_rows(epochs, start_epoch, fields, TASK_FIELDS))


def _member_type(name: str, values: np.ndarray, types: Mapping[str, np.dtype] | None) -> np.dtype:
    if types is not None:
        if name not in types:
            raise ValueError(f"{name} is not a field of this series ({', '.join(types)})")
        return types[name]
    kind = np.asarray(values).dtype.kind
    if kind not in "uif":
        raise ValueError(f"energy field {name} must be numeric, got {np.asarray(values).dtype}")
    return _F64 if kind == "f" else _U64


def _sh5util_step_id(step: str) -> int:
    """sh5util orders node-step files by step id; batch sorts as -2 (section 7 of the doc)."""
    return -2 if step == "batch" else int(step)


def write_node_step_job(
    folder: str | os.PathLike[str],
    *,
    job_id: int | str,
    n_nodes: int,
    steps: Sequence[str] = ("0",),
    duration_s: int = 60,
    start_epoch: int = 1_700_000_000,
) -> list[Path]:
    """A job as slurmstepd leaves it: one file per step and node, `<job>_<step>_<node>.h5`,
    sampled at 1 Hz (Power, and two tasks per node), steps one after the other."""
    paths = []
    for position, step in enumerate(steps):
        step_start = start_epoch + position * (duration_s + 1)
        epochs = step_start + np.arange(duration_s + 1)
        for index in range(n_nodes):
            node = NodeSpec(
                name=f"node{index:03d}",
                index=index,
                start_epoch=step_start,
                energy={"Power": power_pattern(epochs)},
                energy_epochs=epochs,
                tasks={2 * index: TaskSeries(epochs[1:]), 2 * index + 1: TaskSeries(epochs[1:])},
            )
            paths.append(write_node_step_file(folder, node=node, job_id=job_id, step=step))
    return paths
