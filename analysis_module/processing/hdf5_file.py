"""Byte-level checks that tell "not HDF5" from "truncated HDF5" before h5py gets the file.

The HDF5 library reports both as the same opaque OSError. Looking at the signature and the
superblock ourselves lets the caller distinguish a wrong upload (never retry) from a cut-short
upload (retry the transfer), and gives the user a reason that names the actual problem.
"""

from __future__ import annotations

import os
from typing import BinaryIO

import h5py

from analysis_module.processing.errors import NotHDF5Error, TruncatedProfileError
from analysis_module.processing.hdf5_guard import disable_filter_plugins

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# HDF5 looks for the superblock at 0, 512, 1024, 2048, ... (a user block may precede it)
_FIRST_USER_BLOCK_OFFSET = 512
# superblock versions 0/1 keep the addresses after 16 resp. 20 bytes of fixed fields
_ADDRESS_START_BY_VERSION = {0: 24, 1: 28, 2: 12, 3: 12}
_SIZE_OF_OFFSETS_AT = {0: 13, 1: 13, 2: 9, 3: 9}
# Every dataset is read whole, once: each chunk is touched one time, so a chunk cache only
# holds memory (per open dataset) without saving a read.
_CHUNK_CACHE_BYTES = 0

# A profile never needs a filter plugin (see hdf5_guard); loading one would run foreign code.
disable_filter_plugins()


def check_hdf5_file(path: str) -> None:
    """Raise NotHDF5Error / TruncatedProfileError for files HDF5 would reject; else return.

    A missing file raises FileNotFoundError from ``os.stat``.
    """
    size_bytes = os.stat(path).st_size
    if size_bytes == 0:
        raise NotHDF5Error(f"{path}: file is empty (0 bytes), not an HDF5 file")
    with open(path, "rb") as fh:
        offset = _find_signature(fh, size_bytes)
        if offset is None:
            fh.seek(0)
            head = fh.read(16)
            raise NotHDF5Error(
                f"{path}: not an HDF5 file: no HDF5 signature ({size_bytes} bytes, "
                f"starting {head!r})"
            )
        end_of_data = _superblock_end_of_data(fh, offset, size_bytes, path)
    if end_of_data is not None and end_of_data > size_bytes:
        raise TruncatedProfileError(
            f"{path}: truncated HDF5 file: the superblock says the data end at byte "
            f"{end_of_data} but the file has only {size_bytes} bytes"
        )


def open_h5(path: str) -> h5py.File:
    """Open read-only with a modest chunk cache; HDF5 failures become TruncatedProfileError.

    Only called after ``check_hdf5_file``, so the file has a signature and its full length: what
    HDF5 still rejects is a damaged file (or one it cannot open for another reason it names).
    """
    try:
        return h5py.File(path, "r", rdcc_nbytes=_CHUNK_CACHE_BYTES)
    except (FileNotFoundError, PermissionError):
        raise
    except OSError as exc:
        raise TruncatedProfileError(
            f"{path}: HDF5 signature present but the HDF5 library cannot open the file "
            f"(damaged or incomplete): {exc}"
        ) from exc


def _find_signature(fh: BinaryIO, size_bytes: int) -> int | None:
    offset = 0
    while offset + len(HDF5_SIGNATURE) <= size_bytes:
        fh.seek(offset)
        if fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
            return offset
        offset = _FIRST_USER_BLOCK_OFFSET if offset == 0 else offset * 2
    return None


def _superblock_end_of_data(fh: BinaryIO, offset: int, size_bytes: int, path: str) -> int | None:
    """Absolute end-of-file address recorded in the superblock, or None if not knowable.

    Layout (HDF5 file format spec, superblock v0-v3): base address, then (v0/1) free-space
    address or (v2/3) extension address, then the end-of-file address relative to the base.
    """
    fh.seek(offset)
    head = fh.read(64)
    version = head[8] if len(head) > 8 else None
    if version not in _ADDRESS_START_BY_VERSION:
        if len(head) <= 8:
            raise TruncatedProfileError(f"{path}: truncated HDF5 file: superblock missing")
        return None  # a future superblock version: let the HDF5 library judge
    size_of_offsets = head[_SIZE_OF_OFFSETS_AT[version]] if len(head) > 13 else 0
    start = _ADDRESS_START_BY_VERSION[version]
    end = start + 3 * size_of_offsets
    if size_of_offsets not in (2, 4, 8) or len(head) < end:
        raise TruncatedProfileError(
            f"{path}: truncated HDF5 file: superblock cut short ({size_bytes} bytes)"
        )
    base, _, end_of_file = (
        int.from_bytes(head[i : i + size_of_offsets], "little")
        for i in range(start, end, size_of_offsets)
    )
    undefined = (1 << (8 * size_of_offsets)) - 1
    if end_of_file == undefined:
        return None
    return (0 if base == undefined else base) + end_of_file
