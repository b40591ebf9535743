"""One (step, node)'s Slurm series datasets -> one Arrow table.

Slurm stores every series as a 1-D packed compound table (``ElapsedTime`` u64, ``EpochTime`` u64,
then u64/double fields) chunked by 10 rows. Each dataset is read whole into a structured numpy
array, straight from its stored chunks where the layout allows (``hdf5_chunks``, about twice
HDF5's speed on Slurm's 10-row chunks) and through h5py otherwise, then one strided copy per
field fills a preallocated contiguous column that Arrow wraps without copying. Nothing here
loops over rows in Python.

Column names and types follow the reader contract in ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import h5py
import numpy as np
import pyarrow as pa

from analysis_module.processing.errors import (
    ProfileError,
    TruncatedProfileError,
    UnsupportedLayoutError,
)
from analysis_module.processing.hdf5_chunks import ChunkSource, read_records
from analysis_module.processing.hdf5_guard import ReadBudget

TIME_FIELDS = ("ElapsedTime", "EpochTime")
_U64 = np.dtype(np.uint64)
_F64 = np.dtype(np.float64)
# Slurm 15.08.0 wrote EpochTime into ElapsedTime and vice versa; a real epoch is never this small
_PLAUSIBLE_EPOCH_S = 10**8
_H5_READ_ERRORS = (RuntimeError, ValueError, TypeError, KeyError, AttributeError)
# Below this many records h5py's own read is the faster one: the chunk reader pays about 1 ms
# a dataset (its chunk index and checks) and gains per chunk; the two break even near 5,000
# records of Slurm's 10-record chunks (0.7 ms against 0.1 ms at 100 records, 5.3 against
# 19.9 ms at 36,000). Both give the same records (tests/processing/test_hdf5_chunks.py).
_CHUNK_READER_MIN_RECORDS = 4096


@dataclass(frozen=True)
class FieldColumn:
    """How one Slurm compound member becomes one contract column."""

    field: str  # member name in the file
    column: str  # column name in the Arrow table (unit in the name)
    dtype: np.dtype
    optional: bool = False  # only emitted when some dataset has the member (GPU fields)


TASK_COLUMNS = (
    FieldColumn("CPUFrequency", "cpu_frequency", _U64),  # kHz (sysfs) or MHz (/proc/cpuinfo)
    FieldColumn("CPUTime", "cpu_time_s", _F64),
    FieldColumn("CPUUtilization", "cpu_util_pct", _F64),
    FieldColumn("RSS", "rss_kib", _U64),
    FieldColumn("VMSize", "vmsize_kib", _U64),
    FieldColumn("Pages", "pages", _U64),
    FieldColumn("ReadMB", "read_mib", _F64),
    FieldColumn("WriteMB", "write_mib", _F64),
    FieldColumn("GPUMemMB", "gpu_mem_mib", _U64, optional=True),
    FieldColumn("GPUUtilization", "gpu_util_pct", _F64, optional=True),
)
NETWORK_COLUMNS = (
    FieldColumn("PacketsIn", "packets_in", _U64),
    FieldColumn("PacketsOut", "packets_out", _U64),
    FieldColumn("InMB", "in_mib", _F64),
    FieldColumn("OutMB", "out_mib", _F64),
)
FILESYSTEM_COLUMNS = (
    FieldColumn("Reads", "reads", _U64),
    FieldColumn("ReadMB", "read_mib", _F64),
    FieldColumn("Writes", "writes", _U64),
    FieldColumn("WriteMB", "write_mib", _F64),
)


def series_layout(ds: object, file_label: str) -> tuple[int, np.dtype]:
    """Validate that ``ds`` is a Slurm series table; return its row count and compound type.

    Metadata only. h5py builds a new dtype on every ``ds.dtype`` access, so callers keep this one.
    """
    if not isinstance(ds, h5py.Dataset):
        raise UnsupportedLayoutError(f"{file_label}: {_name(ds)} is not a dataset")
    try:
        dtype, shape = ds.dtype, ds.shape
    except OSError as exc:
        raise TruncatedProfileError(f"{file_label}: cannot read {ds.name}: {exc}") from exc
    except _H5_READ_ERRORS as exc:
        raise ProfileError(f"{file_label}: cannot read {ds.name}: {exc}") from exc
    if dtype.names is None or shape is None or len(shape) != 1:
        raise UnsupportedLayoutError(
            f"{file_label}: {ds.name} is not a 1-D compound series table (type {dtype})"
        )
    missing = [f for f in TIME_FIELDS if f not in dtype.names]
    if missing:
        raise UnsupportedLayoutError(
            f"{file_label}: {ds.name} lacks {'/'.join(missing)}; not a Slurm 15.08+ series table"
        )
    for name in TIME_FIELDS:
        check_member_type(dtype, name, ds.name, file_label, integer=True)
    return int(shape[0]), dtype


def check_member_type(
    compound: np.dtype, field: str, where: str, file_label: str, *, integer: bool = False
) -> None:
    """Slurm's members are 8-byte unsigned integers or doubles; refuse anything else by name.

    Big-endian and signed 8-byte members are still read (their values stay meaningful).
    """
    dtype = compound.fields[field][0]
    kinds = "ui" if integer else "uif"
    if dtype.kind in kinds and dtype.itemsize == 8 and not dtype.shape:
        return
    wanted = "a 64-bit unsigned integer" if integer else "a 64-bit unsigned integer or double"
    raise UnsupportedLayoutError(
        f"{file_label}: {where} field {field} is stored as {_describe(dtype)}, not {wanted} "
        "as Slurm writes it"
    )


def _describe(dtype: np.dtype) -> str:
    if dtype.shape:
        return f"an array of {dtype.shape}"
    if dtype.names is not None:
        return "a nested compound"
    names = {"u": "unsigned integer", "i": "signed integer", "f": "float", "b": "boolean"}
    if dtype.kind in names:
        return f"a {8 * dtype.itemsize}-bit {names[dtype.kind]}"
    if dtype.kind in "SU":
        return "a string"
    if dtype.kind == "O":
        return "a variable-length or reference type"
    return "an opaque type"


def energy_columns(ds: h5py.Dataset, file_label: str) -> tuple[FieldColumn, ...]:
    """Energy fields keep their Slurm names and stored types (NodePower, GPU0Power, Energy...)."""
    _, compound = series_layout(ds, file_label)
    columns = []
    for field in compound.names:
        if field in TIME_FIELDS:
            continue
        check_member_type(compound, field, ds.name, file_label)
        dtype = compound.fields[field][0]
        columns.append(FieldColumn(field, field, dtype.newbyteorder("=")))
    return tuple(columns)


def build_table(
    *,
    step: str,
    node: str,
    datasets: Sequence[h5py.Dataset],
    columns: Sequence[FieldColumn],
    ranks: Sequence[int] | None,
    file_label: str,
    budget: ReadBudget | None = None,
    chunks: ChunkSource | None = None,
) -> pa.Table:
    """Concatenate ``datasets`` (in the given order) into one table with the contract columns.

    ``ranks`` (one per dataset) adds an int32 ``rank`` column; ``None`` leaves it out. Memory
    peaks at the output columns plus one dataset's structured array. With ``chunks`` (a map of
    the file), tables whose every member is used are read from their stored chunks
    (``hdf5_chunks``) when their layout allows, through h5py otherwise.
    """
    layouts = [series_layout(ds, file_label) for ds in datasets]
    lengths = np.array([length for length, _ in layouts], dtype=np.int64)
    present = {name for _, dtype in layouts for name in dtype.names}
    columns = [c for c in columns if not c.optional or c.field in present]
    for ds, (_, dtype) in zip(datasets, layouts, strict=True):
        for c in columns:
            if c.field in dtype.names:
                check_member_type(dtype, c.field, ds.name, file_label)
    total = int(lengths.sum())
    elapsed_s = np.empty(total, dtype=np.int64)
    epoch_s = np.empty(total, dtype=np.int64)
    values = {c.column: np.empty(total, dtype=c.dtype) for c in columns}
    null_masks: dict[str, np.ndarray] = {}
    offset = 0
    for ds, (length, dtype) in zip(datasets, layouts, strict=True):
        if budget is not None:
            budget.charge(length * dtype.itemsize, f"dataset {ds.name}")
        rows = _records(ds, length, dtype, _members(dtype, columns), chunks, file_label)
        end = offset + length
        elapsed_s[offset:end] = _as_int64(rows["ElapsedTime"])
        epoch_s[offset:end] = _as_int64(rows["EpochTime"])
        for c in columns:
            if c.field in rows.dtype.names:
                values[c.column][offset:end] = rows[c.field]
            else:  # a member only some datasets have: null where absent
                mask = null_masks.setdefault(c.column, np.zeros(total, dtype=bool))
                mask[offset:end] = True
        if length:
            _reject_swapped_times(int(elapsed_s[offset]), int(epoch_s[offset]), ds, file_label)
        offset = end
    rank_column = None
    if ranks is not None:
        rank_column = np.repeat(np.asarray(ranks, dtype=np.int32), lengths)
    return _contract_table(step, node, elapsed_s, epoch_s, rank_column, values, null_masks)


def _contract_table(
    step: str,
    node: str,
    elapsed_s: np.ndarray,
    epoch_s: np.ndarray,
    rank: np.ndarray | None,
    values: dict[str, np.ndarray],
    null_masks: dict[str, np.ndarray],
) -> pa.Table:
    """The contract's column order: step, node, elapsed_s, epoch_s, rank (when given), then
    the series' columns (null where `null_masks` says so)."""
    total = len(elapsed_s)
    arrays = [
        pa.repeat(pa.scalar(step, pa.string()), total),
        pa.repeat(pa.scalar(node, pa.string()), total),
        pa.array(elapsed_s),
        pa.array(epoch_s),
    ]
    names = ["step", "node", "elapsed_s", "epoch_s"]
    if rank is not None:
        arrays.append(pa.array(rank))
        names.append("rank")
    for column, column_values in values.items():
        arrays.append(pa.array(column_values, mask=null_masks.get(column)))
        names.append(column)
    return pa.Table.from_arrays(arrays, names=names)


def _members(compound: np.dtype, columns: Sequence[FieldColumn]) -> np.dtype:
    """The stored members the columns use, packed: HDF5 then converts only those.

    A record may carry members Slurm never writes (up to any width); reading only the used ones
    keeps memory with the contract's columns. Same speed as the whole record on real files.
    """
    wanted = set(TIME_FIELDS).union(c.field for c in columns)
    used = [name for name in compound.names if name in wanted]
    if len(used) == len(compound.names):
        return compound
    return np.dtype([(name, compound.fields[name][0]) for name in used])


def _records(
    ds: h5py.Dataset,
    length: int,
    compound: np.dtype,
    members: np.dtype,
    chunks: ChunkSource | None,
    file_label: str,
) -> np.ndarray:
    """The chunk read when every stored member is used, the layout allows and the dataset is
    long enough for it to be the faster, else h5py."""
    if chunks is not None and members is compound and length >= _CHUNK_READER_MIN_RECORDS:
        rows = read_records(ds, compound, length, chunks, file_label)
        if rows is not None:
            return rows
    return _read_rows(ds, length, members, file_label)


def _read_rows(ds: h5py.Dataset, length: int, dtype: np.dtype, file_label: str) -> np.ndarray:
    """The whole dataset (``dtype``'s members) in one read; HDF5 failures become ProfileErrors.

    The low-level read of ``ds.read_direct`` without its per-call selection and dtype overhead.
    """
    rows = np.empty(length, dtype=dtype)
    if not length:
        return rows
    try:
        ds.id.read(h5py.h5s.ALL, h5py.h5s.ALL, rows)
    except OSError as exc:
        raise TruncatedProfileError(
            f"{file_label}: cannot read {ds.name}: file truncated or corrupt ({exc})"
        ) from exc
    except _H5_READ_ERRORS as exc:
        raise ProfileError(f"{file_label}: cannot read {ds.name}: {exc}") from exc
    return rows


def _as_int64(values: np.ndarray) -> np.ndarray:
    """u64 seconds as int64, reinterpreting the bits: a wrapped negative value becomes negative."""
    if values.dtype.kind in "ui" and values.dtype.itemsize == 8:
        # same byte order as stored, so a big-endian file still converts correctly on assignment
        return values.view(np.dtype(np.int64).newbyteorder(values.dtype.byteorder))
    return values.astype(np.int64)


def _reject_swapped_times(
    first_elapsed_s: int, first_epoch_s: int, ds: h5py.Dataset, file_label: str
) -> None:
    """Slurm 15.08.0 stored each time in the other's field; refuse rather than misreport.

    The reason names no values: a number read from an untrusted file is never echoed.
    """
    if 0 <= first_epoch_s < _PLAUSIBLE_EPOCH_S <= first_elapsed_s:
        raise UnsupportedLayoutError(
            f"{file_label}: {ds.name} starts with an EpochTime before 1973 and an ElapsedTime "
            "that looks like a date: the swapped times of Slurm 15.08.0, which this reader "
            "does not support"
        )


def _name(obj: object) -> str:
    return str(getattr(obj, "name", obj))
