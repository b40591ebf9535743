"""Slurm ``acct_gather_profile/hdf5`` files (merged and node-step) -> Arrow tables.

Layouts (docs/energy-metrics.md section 7): a merged job file from ``sh5util -j``
holds ``/Steps/<step>/Nodes/<node>/{Energy,Tasks/<rank>,Network,Filesystem}``; a node-step file
from slurmstepd holds one ``/<node>`` group and names its job and step only in the file name
``<job>_<step>_<node>.h5``. Both are read through the same ``NodeStep`` handles, one per
(step, node), so memory per read call stays proportional to one (step, node).

HDF5 lists groups by name (``-4, 0, 1, 10, 2, batch``); this module sorts steps, nodes and ranks
numerically itself. Column names and types are the reader contract of ``docs/architecture.md``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from types import TracebackType

import h5py
import pyarrow as pa

from analysis_module.processing.errors import (
    EmptyProfileError,
    ProfileError,
    TruncatedProfileError,
)
from analysis_module.processing.hdf5_chunks import ChunkSource
from analysis_module.processing.hdf5_file import check_hdf5_file, open_h5
from analysis_module.processing.hdf5_guard import ReadBudget, ReadLimits, inspect_structure
from analysis_module.processing.hdf5_layout import SERIES, Layout, discover_layout, task_datasets
from analysis_module.processing.hdf5_series import (
    FILESYSTEM_COLUMNS,
    NETWORK_COLUMNS,
    TASK_COLUMNS,
    FieldColumn,
    build_table,
    energy_columns,
)
from analysis_module.processing.heap import return_freed_memory

_REOPEN_EVERY_DATASETS = 256
# A walk over more datasets than this is followed by a reopen; a small file's few cost less
# memory than the reopen costs time (closing, returning freed memory, opening again: 1-2 ms
# a file, measured with bench/small_files.py).
_REOPEN_AFTER_WALK_DATASETS = 32
_DECIMAL = re.compile(r"-?[0-9]+")
_H5_STRUCTURE_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)


@dataclass(frozen=True)
class NodeStep:
    """One node's part of one job step, and which series it recorded.

    ``step`` uses the merged-file naming: ``batch``, decimal ids, ``-4`` (extern), ``-6``
    (interactive). Attributes Slurm did not write are ``None``. ``h5_path`` is the HDF5 group;
    it is left out of equality so the same (step, node) compares equal in both layouts.
    """

    step: str
    node: str
    node_index: int | None
    n_tasks: int | None
    cpus_per_task: int | None
    start_time: str | None  # "%a %b %d %H:%M:%S %Y", node-local time, as Slurm wrote it
    series: tuple[str, ...]  # present children among Energy, Tasks, Network, Filesystem
    task_ranks: tuple[int, ...]  # global task ranks, numeric order
    h5_path: str = field(default="", compare=False)  # differs between merged and node-step


class SlurmProfile:
    """An open Slurm profile; use as a context manager or call ``close()``.

    Attributes: ``path``, ``layout`` (``"merged"`` or ``"node_step"``), ``job_id`` (from the file
    name, else ``None``), ``node_steps`` (batch first, then numeric steps; nodes by index, name).
    """

    def __init__(self, path: str, h5: h5py.File, budget: ReadBudget | None = None) -> None:
        self.path = path
        self._h5: h5py.File | None = h5
        self.budget = budget or ReadBudget(ReadLimits(), path)
        # chunk addresses are relative to the superblock: read chunks directly only without a
        # user block in front of it
        self._chunks = ChunkSource(path) if h5.userblock_size == 0 else None
        self._task_names: dict[str, tuple[str, ...]] = {}
        self.layout: Layout
        self.job_id: str | None
        self.node_steps: list[NodeStep]
        self.layout, self.job_id, groups = discover_layout(h5, path)
        node_steps = [self._node_step(step, group) for step, group in groups]
        if not any(ns.series for ns in node_steps):
            raise EmptyProfileError(
                f"{path}: Slurm {self.layout} profile without any recorded series "
                f"({len(node_steps)} step/node groups, all empty)"
            )
        self.node_steps = sorted(node_steps, key=node_step_order)
        self._identity = _file_identity(path)
        self._datasets_read = 0
        touched = sum(len(ns.series) + len(ns.task_ranks) for ns in self.node_steps)
        if touched > _REOPEN_AFTER_WALK_DATASETS:
            self._reopen()  # drops what the structure walk and the discovery made HDF5 keep

    def __enter__(self) -> SlurmProfile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._chunks is not None:
            self._chunks.close()
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def __repr__(self) -> str:
        return (
            f"SlurmProfile({self.path!r}, layout={self.layout!r}, job_id={self.job_id!r}, "
            f"{len(self.node_steps)} node steps)"
        )

    def node_name_attribute(self, ns: NodeStep) -> str | None:
        """The `Node Name` attribute of a (step, node) group, None when Slurm wrote none."""
        group = _member(self._h5, ns.h5_path, self.path) if self._h5 is not None else None
        return None if group is None else _str_attr(group.attrs, "Node Name")

    def read_energy(self, ns: NodeStep) -> pa.Table | None:
        """Energy rows of one (step, node); fields under their Slurm names and stored types."""
        if "Energy" not in ns.series:
            return None
        ds = self._child(ns, "Energy")
        return self._table(ns, [ds], energy_columns(ds, self.path), None)

    def read_tasks(self, ns: NodeStep) -> pa.Table | None:
        """All ranks of one (step, node) in one table: rank order, then file order."""
        if "Tasks" not in ns.series:
            return None
        tasks = self._child(ns, "Tasks")
        names = self._task_names[ns.h5_path]
        datasets = [_member(tasks, name, self.path) for name in names]
        return self._table(ns, datasets, TASK_COLUMNS, ns.task_ranks)

    def read_network(self, ns: NodeStep) -> pa.Table | None:
        """Network rows of one (step, node): packets_in/out, in/out_mib as Slurm stored them."""
        if "Network" not in ns.series:
            return None
        return self._table(ns, [self._child(ns, "Network")], NETWORK_COLUMNS, None)

    def read_filesystem(self, ns: NodeStep) -> pa.Table | None:
        """Lustre rows of one (step, node): cumulative reads/writes and MiB."""
        if "Filesystem" not in ns.series:
            return None
        return self._table(ns, [self._child(ns, "Filesystem")], FILESYSTEM_COLUMNS, None)

    def _table(
        self,
        ns: NodeStep,
        datasets: list[h5py.Dataset],
        columns: tuple[FieldColumn, ...],
        ranks: tuple[int, ...] | None,
    ) -> pa.Table:
        table = build_table(
            step=ns.step,
            node=ns.node,
            datasets=datasets,
            columns=columns,
            ranks=ranks,
            file_label=self.path,
            budget=self.budget,
            chunks=self._chunks,
        )
        self._datasets_read += len(datasets)
        if self._datasets_read >= _REOPEN_EVERY_DATASETS:
            self._reopen()
        return table

    def _reopen(self) -> None:
        """Close and open the file again: HDF5 keeps memory for every dataset it has touched
        (~150 KB each on long jobs, ~300 MB for 64 nodes x 16 tasks x 24 h) until the file is
        closed. Refuses a file that changed on disk in between."""
        if self._h5 is None:
            return
        self._h5.close()
        self._h5 = None
        return_freed_memory()
        if _file_identity(self.path) != self._identity:
            raise TruncatedProfileError(f"{self.path}: the file changed while it was being read")
        self._h5 = open_h5(self.path)
        self._datasets_read = 0

    def _child(self, ns: NodeStep, name: str) -> h5py.Dataset | h5py.Group:
        if self._h5 is None:
            raise ValueError(f"{self.path}: profile is closed")
        return _member(_member(self._h5, ns.h5_path, self.path), name, self.path)

    def _node_step(self, step: str, group: h5py.Group) -> NodeStep:
        series = tuple(name for name in SERIES if name in group)
        ranks: tuple[int, ...] = ()
        if "Tasks" in series:
            by_rank = task_datasets(group, self.path)
            ranks = tuple(rank for rank, _ in by_rank)
            self._task_names[group.name] = tuple(name for _, name in by_rank)
        attrs = group.attrs
        return NodeStep(
            step=step,
            node=group.name.rsplit("/", 1)[-1],
            node_index=_int_attr(attrs, "Node Index"),
            n_tasks=_int_attr(attrs, "Number of Tasks"),
            cpus_per_task=_int_attr(attrs, "CPUs per Task"),
            start_time=_str_attr(attrs, "Start Time"),
            series=series,
            task_ranks=ranks,
            h5_path=group.name,
        )


def _file_identity(path: str) -> tuple[int, int, int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def open_profile(path: str | os.PathLike[str], limits: ReadLimits | None = None) -> SlurmProfile:
    """Open a merged (``job_<id>.h5``) or node-step (``<job>_<step>_<node>.h5``) Slurm profile.

    Raises a ``ProfileError`` subclass with a one-line reason when the file is not a readable
    Slurm profile (``UnsafeProfileError`` for HDF5 features Slurm never writes,
    ``ProfileTooLargeError`` over ``limits``), ``FileNotFoundError`` when it does not exist.
    The structure is checked before any data is read; reads are then charged to ``limits``.
    """
    fspath = os.fspath(path)
    check_hdf5_file(fspath)
    h5 = open_h5(fspath)
    try:
        budget = ReadBudget(limits or ReadLimits(), fspath)
        inspect_structure(h5, budget)
        return SlurmProfile(fspath, h5, budget)
    except _H5_STRUCTURE_ERRORS as exc:
        h5.close()
        raise TruncatedProfileError(f"{fspath}: cannot read the HDF5 structure: {exc}") from exc
    except BaseException:
        h5.close()
        raise


_SERIES_KEYS = ("energy", "tasks", "network", "filesystem")


def read_profile_tables(path: str | os.PathLike[str]) -> dict[str, pa.Table]:
    """Every (step, node) concatenated per series: keys energy/tasks/network/filesystem.

    For tests and small files: it holds the whole profile in memory. Series no node-step has are
    left out; columns only some nodes have (other IPMI labels, GPU fields) are null elsewhere.
    """
    parts: dict[str, list[pa.Table]] = {key: [] for key in _SERIES_KEYS}
    with open_profile(path) as profile:
        for ns in profile.node_steps:
            for key in _SERIES_KEYS:
                table = getattr(profile, f"read_{key}")(ns)
                if table is not None:
                    parts[key].append(table)
    return {
        key: pa.concat_tables(tables, promote_options="default")
        for key, tables in parts.items()
        if tables
    }


def _member(group: h5py.Group | h5py.File, name: str, path: str) -> h5py.Dataset | h5py.Group:
    try:
        return group[name]
    except KeyError as exc:
        raise ProfileError(f"{path}: {group.name}/{name} is missing ({exc})") from exc
    except OSError as exc:
        raise TruncatedProfileError(f"{path}: cannot read {group.name}/{name}: {exc}") from exc
    except _H5_STRUCTURE_ERRORS as exc:
        raise ProfileError(f"{path}: cannot open {group.name}/{name}: {exc}") from exc


def node_step_order(ns: NodeStep) -> tuple[tuple[int, int, str], bool, int, str]:
    if ns.step == "batch":
        step_key = (0, 0, "")
    elif _DECIMAL.fullmatch(ns.step):
        step_key = (1, int(ns.step), "")
    else:
        step_key = (2, 0, ns.step)
    return step_key, ns.node_index is None, ns.node_index or 0, ns.node


def _int_attr(attrs: h5py.AttributeManager, name: str) -> int | None:
    value = _attr_item(attrs, name)
    if value is None or getattr(value, "dtype", None) is None or value.dtype.kind not in "iu":
        return None
    return int(value)


def _str_attr(attrs: h5py.AttributeManager, name: str) -> str | None:
    value = _attr_item(attrs, name)
    if isinstance(value, bytes):
        return value.rstrip(b"\0").decode("ascii", errors="replace")
    return value.rstrip("\0") if isinstance(value, str) else None


def _attr_item(attrs: h5py.AttributeManager, name: str) -> object | None:
    """The single element of a (1,)-shaped or scalar attribute; None if missing or unreadable."""
    try:
        value = attrs.get(name)
    except _H5_STRUCTURE_ERRORS:
        return None
    shape = getattr(value, "shape", None)
    if shape is None or value.size != 1:
        return value if isinstance(value, bytes | str) else None
    return value.reshape(-1)[0]
