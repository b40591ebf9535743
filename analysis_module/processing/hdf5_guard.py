"""Refuse what a Slurm profile never contains before any dataset is read, and bound the reading.

An uploaded HDF5 file is untrusted. HDF5 itself can make a reader touch data outside the file:
a dataset may keep its bytes in *external raw storage* (any host file at any offset), a
*virtual dataset* maps other files, an *external link* opens another HDF5 file, and a filter
that is not built in loads a plugin (foreign code). Slurm's profile plugin and ``sh5util``
write none of these: only groups, hard links and packed compound datasets, chunked by 10 rows
and deflated at level 0 (``slurm-hdf5-profile.md`` sections 1, 2). So the walk below accepts
exactly that and refuses everything else with a one-line reason that describes the problem and
never quotes a value read from the file.

It also checks that every dataset's declared size is backed by stored bytes (a 5 KB file may
not declare 10^7 rows: HDF5 would return fill values for the missing chunks, and we would
allocate for all of them), and ``ReadBudget`` bounds decoded bytes, HDF5 objects and seconds
per file while the file is read.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import h5py

from analysis_module.processing.errors import ProfileTooLargeError, UnsafeProfileError

ALLOWED_FILTERS = {h5py.h5z.FILTER_DEFLATE: "deflate", h5py.h5z.FILTER_SHUFFLE: "shuffle"}
# Slurm deflates at level 0 (stored blocks), so a real table decodes to about its stored size.
# The real samples re-packed with shuffle + gzip 9 reach 6-14x (one chunk per table); deflate
# itself reaches ~1000x on zeros, which is what a decompression bomb uses.
MAX_EXPANSION_RATIO = 64
_CHECK_TIME_EVERY_OBJECTS = 256
# Measured (bench/hostile_memory.py): 27 nodes x 800,000 rows of 24-byte Energy records kept
# ~93 bytes per row; the record's members beyond the times are kept as components.
ENERGY_KEPT_BYTES_PER_ROW = 72
_LINK_KIND = {h5py.h5l.TYPE_SOFT: "a soft link", h5py.h5l.TYPE_EXTERNAL: "an external link"}


def disable_filter_plugins() -> None:
    """Never let the HDF5 library load a filter plugin (a shared library named by the file).

    h5py offers no switch for HDF5's loading state, so the plugin search path is emptied:
    with no directory to look in, HDF5 finds no plugin. ``HDF5_PLUGIN_PRELOAD="::"`` (HDF5's
    "load nothing") also covers a library that initialises its plugin table later, and child
    processes. The guard refuses every filter but deflate and shuffle anyway, before a read.
    """
    os.environ["HDF5_PLUGIN_PRELOAD"] = "::"
    os.environ["HDF5_PLUGIN_PATH"] = ""
    while h5py.h5pl.size():
        h5py.h5pl.remove(0)


@dataclass(frozen=True)
class ReadLimits:
    """Per-file limits (settings PROFILE_MAX_DECODED_BYTES, PROFILE_MAX_SECONDS,
    PROFILE_MAX_OBJECTS, PROFILE_MAX_SERIES_ROWS, PROFILE_MAX_ENERGY_TABLE_BYTES,
    PROFILE_MAX_ENERGY_BYTES).

    The engine streams node by node, so the total is a bound on time, not memory; memory goes
    with the one table it holds at once (an Energy, Network or Filesystem dataset, or one
    node's Tasks datasets together): ``max_series_rows`` bounds its rows. Tasks, Network and
    Filesystem are read with only the members the reader uses, Energy with every member (each
    may be a power field), so ``max_energy_table_bytes`` bounds an Energy table's declared
    bytes. Every node's power series is kept until the job's figures are built (its
    integration was kept too when ``ENERGY_KEPT_BYTES_PER_ROW`` was measured; it is now
    recomputed one series at a time, so the estimate is conservative):
    ``max_energy_bytes`` bounds that estimate over the file's Energy tables together.
    """

    max_decoded_bytes: int = 32 * 1024**3
    max_seconds: float = 600.0
    max_objects: int = 200_000
    max_series_rows: int = 1_600_000
    max_energy_table_bytes: int = 128 * 1024**2
    max_energy_bytes: int = 640 * 1024**2


class ReadBudget:
    """What one file may still cost: decoded bytes and wall time since it was opened."""

    def __init__(
        self,
        limits: ReadLimits,
        file_label: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.file_label = file_label
        self.decoded_bytes = 0
        self._clock = clock
        self._started = clock()

    def charge(self, n_bytes: int, what: str) -> None:
        """Count ``n_bytes`` about to be decoded; refuse when the file's total would pass."""
        self.check_time(what)
        if self.decoded_bytes + n_bytes > self.limits.max_decoded_bytes:
            raise ProfileTooLargeError(
                f"{self.file_label}: reading {what} would decode more than "
                f"{_size(self.limits.max_decoded_bytes)} from this file "
                "(PROFILE_MAX_DECODED_BYTES)"
            )
        self.decoded_bytes += n_bytes

    def check_time(self, doing: str) -> None:
        elapsed_s = self._clock() - self._started
        if elapsed_s > self.limits.max_seconds:
            raise ProfileTooLargeError(
                f"{self.file_label}: stopped while {doing}: the file took longer than "
                f"{self.limits.max_seconds:g} s (PROFILE_MAX_SECONDS)"
            )


def inspect_structure(h5: h5py.File, budget: ReadBudget) -> None:
    """Walk every link from the root; raise unless the file holds only what Slurm writes.

    Metadata only: no dataset's data is read. Also refuses files whose declared data exceed the
    decoded-bytes budget before a byte of it is decoded.
    """
    label = budget.file_label
    pending: list[tuple[h5py.h5g.GroupID, str]] = [(h5.id, "")]
    n_objects = 0
    declared_bytes = 0
    tables = _TableSizes(budget)
    while pending:
        group_id, group_path = pending.pop()
        for raw_name in group_id:
            path = f"{group_path}/{_checked_name(raw_name, group_path, label)}"
            _refuse_links(group_id, raw_name, path, label)
            n_objects += 1
            if n_objects > budget.limits.max_objects:
                raise ProfileTooLargeError(
                    f"{label}: more than {budget.limits.max_objects} HDF5 objects "
                    "(PROFILE_MAX_OBJECTS)"
                )
            if n_objects % _CHECK_TIME_EVERY_OBJECTS == 0:
                budget.check_time("checking the file's structure")
            obj_id = h5py.h5o.open(group_id, raw_name)
            kind = _object_kind(obj_id, path, label)
            if kind == "group":
                pending.append((obj_id, path))
            else:
                declared_bytes += _checked_dataset(obj_id, path, label)
                tables.add(obj_id, path)
    if declared_bytes > budget.limits.max_decoded_bytes:
        raise ProfileTooLargeError(
            f"{label}: its datasets declare {_size(declared_bytes)} of data, more than the "
            f"{_size(budget.limits.max_decoded_bytes)} allowed per file "
            "(PROFILE_MAX_DECODED_BYTES)"
        )


class _TableSizes:
    """Declared rows of the tables the engine reads at once, and the bytes Energy costs."""

    def __init__(self, budget: ReadBudget) -> None:
        self.budget = budget
        self.task_rows: dict[str, int] = {}  # one node's Tasks tables are read as one table
        self.energy_kept_bytes = 0

    def add(self, dsid: h5py.h5d.DatasetID, path: str) -> None:
        """Refuse as soon as a table, a node's Tasks or the file's Energy pass a bound."""
        dims = dsid.get_space().get_simple_extent_dims()
        n_rows = dims[0] if dims else 1
        parent, _, name = path.rpartition("/")
        where = f"dataset {path}"
        if parent.endswith("/Tasks"):
            n_rows = self.task_rows[parent] = self.task_rows.get(parent, 0) + n_rows
            where = f"the Tasks of {parent.removesuffix('/Tasks') or '/'}"
        limits, label = self.budget.limits, self.budget.file_label
        if n_rows > limits.max_series_rows:
            raise ProfileTooLargeError(
                f"{label}: {where} declares more than {limits.max_series_rows} rows, "
                "the most read at once (PROFILE_MAX_SERIES_ROWS)"
            )
        if name == "Energy":
            self._add_energy(math.prod(dims), dsid.get_type().get_size(), path)

    def _add_energy(self, n_rows: int, record_bytes: int, path: str) -> None:
        limits, label = self.budget.limits, self.budget.file_label
        if n_rows * record_bytes > limits.max_energy_table_bytes:
            raise ProfileTooLargeError(
                f"{label}: dataset {path} declares {_size(n_rows * record_bytes)} of records, "
                f"more than the {_size(limits.max_energy_table_bytes)} allowed for one Energy "
                "table (PROFILE_MAX_ENERGY_TABLE_BYTES)"
            )
        self.energy_kept_bytes += n_rows * (record_bytes + ENERGY_KEPT_BYTES_PER_ROW)
        if self.energy_kept_bytes > limits.max_energy_bytes:
            raise ProfileTooLargeError(
                f"{label}: its Energy tables together need more than "
                f"{_size(limits.max_energy_bytes)} kept for the job's figures "
                f"(rows x (record size + {ENERGY_KEPT_BYTES_PER_ROW} bytes); "
                "PROFILE_MAX_ENERGY_BYTES)"
            )


def _checked_name(raw_name: bytes, group_path: str, label: str) -> str:
    where = group_path or "/"
    try:
        name = raw_name.decode("utf-8")
    except UnicodeDecodeError:
        raise UnsafeProfileError(
            f"{label}: an object name in {where} is not valid UTF-8 "
            "(Slurm names steps, nodes and tasks in ASCII)"
        ) from None
    if not name.isprintable() or "/" in name:
        raise UnsafeProfileError(f"{label}: an object name in {where} contains control characters")
    return name


def _refuse_links(group_id: h5py.h5g.GroupID, raw_name: bytes, path: str, label: str) -> None:
    link_type = group_id.links.get_info(raw_name).type
    if link_type != h5py.h5l.TYPE_HARD:
        kind = _LINK_KIND.get(link_type, "a user-defined link")
        raise UnsafeProfileError(
            f"{label}: {path} is {kind}; Slurm profiles hold only hard links "
            "(a link may point into another file or elsewhere in this one)"
        )


def _object_kind(obj_id: h5py.h5o.ObjectID, path: str, label: str) -> str:
    # H5Gget_objinfo: the object header's link count and type, without H5Oget_info's
    # attribute and time fields (about 40x faster; every object of the file is asked)
    info = h5py.h5g.get_objinfo(obj_id, b".")
    if info.nlink != 1:
        raise UnsafeProfileError(
            f"{label}: {path} is reachable through {info.nlink} links; "
            "Slurm links every object once"
        )
    if info.type == h5py.h5g.GROUP:
        return "group"
    if info.type == h5py.h5g.DATASET:
        return "dataset"
    raise UnsafeProfileError(
        f"{label}: {path} is neither a group nor a dataset (a committed datatype?)"
    )


def _checked_dataset(dsid: h5py.h5d.DatasetID, path: str, label: str) -> int:
    """Refuse foreign storage and unknown filters; return the declared (decoded) bytes."""
    dcpl = dsid.get_create_plist()
    layout = dcpl.get_layout()
    if layout == h5py.h5d.VIRTUAL:
        raise UnsafeProfileError(
            f"{label}: {path} is a virtual dataset (it maps data of other files)"
        )
    if dcpl.get_external_count() > 0:
        raise UnsafeProfileError(
            f"{label}: {path} keeps its data in external files (HDF5 external storage); "
            "a profile must hold its own data"
        )
    for index in range(dcpl.get_nfilters()):
        code = dcpl.get_filter(index)[0]
        if code not in ALLOWED_FILTERS:
            raise UnsafeProfileError(
                f"{label}: {path} uses HDF5 filter {code}; Slurm profiles use only "
                "deflate (and shuffle after re-packing)"
            )
    dims = dsid.get_space().get_simple_extent_dims()
    declared = math.prod(dims) * dsid.get_type().get_size()
    stored = dsid.get_storage_size()
    if layout == h5py.h5d.CHUNKED:
        _check_chunks(dsid, dcpl.get_chunk(), dims, path, label)
    if declared > MAX_EXPANSION_RATIO * stored:
        raise ProfileTooLargeError(
            f"{label}: {path} declares {_size(declared)} of data but the file stores only "
            f"{_size(stored)} for it (unallocated or over-compressed data)"
        )
    return declared


def _check_chunks(
    dsid: h5py.h5d.DatasetID, chunk: tuple, dims: tuple, path: str, label: str
) -> None:
    expected = math.prod(math.ceil(d / c) for d, c in zip(dims, chunk, strict=True))
    if expected and dsid.get_num_chunks() < expected:
        raise ProfileTooLargeError(
            f"{label}: {path} declares {math.prod(dims)} rows but stores fewer chunks than "
            "they need (its size is not backed by data in the file)"
        )


def _size(n_bytes: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} bytes"
