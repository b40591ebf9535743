"""Read a Slurm series table straight from its stored chunks, faster than HDF5's own read.

Slurm writes every series chunked by 10 rows and deflated at level 0: each chunk is a zlib
stream of one *stored* block (2-byte zlib header, 5-byte block header with LEN and NLEN, the
raw records, 4-byte Adler-32). HDF5 pays a few microseconds of bookkeeping per chunk; here the
chunk addresses come from one ``chunk_iter`` walk, the payloads are copied out of a read-only
map of the file with one strided copy per run of evenly spaced chunks, and all Adler-32
checksums are verified at once (the stored checksums combined over the table must equal the
checksum of the copied payload, which catches any corrupted chunk). Chunks that are really
compressed are inflated one by one with a bounded ``zlib.decompressobj``.

Only a layout that was checked is read this way: a 1-D chunked table of packed 8-byte integer
and IEEE double members, deflate as its only filter, every chunk stored and unfiltered-masked.
Anything else (shuffle, a missing chunk, a checksum that does not add up, ...) returns
``None`` and the caller reads the table through h5py, so its errors stay exactly HDF5's.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import zlib
from operator import itemgetter

import h5py
import numpy as np

from analysis_module.processing.errors import ProfileError
from analysis_module.processing.hdf5_btree import btree_chunks

_ADLER_MOD = 65521
_STORED_HEAD = 7  # zlib header (2), stored block header (1), LEN (2), NLEN (2)
_ADLER_BYTES = 4
_MAX_STORED_BLOCK = 0xFFFF
_BLOCK_BYTES = 16 * 1024**2  # payload copied between drops of the mapped pages
# a block's chunks are read in one pread when they span at most this much more than their size
_SPAN_SLACK, _SPAN_EXTRA = 2, 64 * 1024
_BIG_ENDIAN_U32 = np.array([1 << 24, 1 << 16, 1 << 8, 1], dtype=np.int64)
# fields of h5py's StoreInfo: chunk_offset, filter_mask, byte_offset, size
_FIRST, _MASK, _OFFSET, _SIZE = (itemgetter(i) for i in range(4))


class ChunkSource:
    """A read-only map of one HDF5 file, opened lazily; ``close`` releases it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file = None
        self._map: mmap.mmap | None = None
        self._bytes: np.ndarray | None = None
        self._buffer: np.ndarray | None = None

    def bytes(self) -> np.ndarray:
        if self._bytes is None:
            self._file = open(self.path, "rb")  # noqa: SIM115 - kept open until close()
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            self._bytes = np.frombuffer(self._map, dtype=np.uint8)
        return self._bytes

    def span(self, start: int, stop: int) -> np.ndarray | None:
        """Bytes ``start:stop`` of the mapped file read with one ``pread`` into a buffer reused
        between calls (valid until the next call): cheaper than faulting the map's pages in
        one by one. None when the read comes back short."""
        self.bytes()
        size = stop - start
        if self._buffer is None or self._buffer.size < size:
            self._buffer = np.empty(size, dtype=np.uint8)
        view = self._buffer[:size]
        try:
            n_read = os.preadv(self._file.fileno(), [view], start)
        except OSError:
            return None
        return view if n_read == size else None

    def release(self) -> None:
        """Drop the pages touched so far from this process (they stay in the page cache)."""
        if self._map is not None:
            self._map.madvise(mmap.MADV_DONTNEED)

    def close(self) -> None:
        self._bytes = self._buffer = None
        if self._map is not None:
            with contextlib.suppress(BufferError):  # a view still held (by a traceback):
                self._map.close()  # the map is then unmapped when that view goes
            self._map = None
        if self._file is not None:
            self._file.close()
            self._file = None


def read_records(
    ds: h5py.Dataset, compound: np.dtype, length: int, source: ChunkSource, file_label: str
) -> np.ndarray | None:
    """``length`` records of ``ds`` as ``compound``, or None when the layout is not the one
    this reader verifies (the caller then reads through h5py)."""
    chunk_rows = _chunk_rows(ds, compound)
    if chunk_rows is None or length == 0:
        return None
    chunk_bytes = chunk_rows * compound.itemsize
    data = source.bytes()
    chunks = _chunk_addresses(ds, data, math.ceil(length / chunk_rows), chunk_rows, compound)
    if chunks is None:
        return None
    offsets, sizes = chunks
    if int((offsets + sizes).max()) > data.size or int(offsets.min()) < 0:
        return None
    stored = sizes == chunk_bytes + _STORED_HEAD + _ADLER_BYTES
    if chunk_bytes <= _MAX_STORED_BLOCK and stored.all():
        payload = _stored_payload(source, offsets, chunk_bytes)
    else:
        payload = _inflated_payload(source, offsets, sizes, chunk_bytes, ds.name, file_label)
    source.release()
    if payload is None:
        return None
    return payload.reshape(-1).view(compound)[:length]


def _chunk_rows(ds: h5py.Dataset, compound: np.dtype) -> int | None:
    """Rows per chunk when ``ds`` has the verified layout, else None."""
    dsid = ds.id
    dcpl = dsid.get_create_plist()
    if dcpl.get_layout() != h5py.h5d.CHUNKED:
        return None
    filters = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
    if filters != [h5py.h5z.FILTER_DEFLATE]:
        return None
    chunk = dcpl.get_chunk()
    if len(chunk) != 1 or not _same_records(dsid.get_type(), compound):
        return None
    return int(chunk[0])


def _same_records(tid: h5py.h5t.TypeID, compound: np.dtype) -> bool:
    """The stored record is byte for byte ``compound``: same size, offsets and 8-byte members."""
    if not isinstance(tid, h5py.h5t.TypeCompoundID) or tid.get_size() != compound.itemsize:
        return False
    if tid.get_nmembers() != len(compound.names):
        return False
    for index, name in enumerate(compound.names):
        member, offset = compound.fields[name][:2]
        mtid = tid.get_member_type(index)
        if tid.get_member_name(index).decode("utf-8", "replace") != name:
            return False
        if tid.get_member_offset(index) != offset or mtid.get_size() != 8 or member.shape:
            return False
        if not _plain_number(mtid, member):
            return False
    return True


def _plain_number(mtid: h5py.h5t.TypeID, member: np.dtype) -> bool:
    order = ">" if member.byteorder == ">" else "<"
    if member.kind == "f":
        ieee = h5py.h5t.IEEE_F64BE if order == ">" else h5py.h5t.IEEE_F64LE
        return mtid.equal(ieee)
    if member.kind in "ui":
        return isinstance(mtid, h5py.h5t.TypeIntegerID)
    return False


def _chunk_addresses(
    ds: h5py.Dataset, data: np.ndarray, n_chunks: int, chunk_rows: int, compound: np.dtype
) -> tuple[np.ndarray, np.ndarray] | None:
    """File offsets and stored sizes of every chunk in row order, or None if any is missing,
    extra, out of order or stored with a filter skipped. From the B-tree in the file map when
    its layout is HDF5 1.8's (``hdf5_btree``), else from h5py's ``chunk_iter``."""
    parsed = btree_chunks(data, _header_address(ds), n_chunks, chunk_rows, compound.itemsize)
    if parsed is not None:
        offsets, sizes, masks = parsed
        return None if masks.any() else (offsets, sizes)
    return _iterated_addresses(ds, n_chunks, chunk_rows)


def _header_address(ds: h5py.Dataset) -> int:
    """The dataset's object header address in the file, -1 when HDF5 does not tell it."""
    try:
        low, high = h5py.h5g.get_objinfo(ds.id, b".").objno
    except (RuntimeError, ValueError, OSError, AttributeError, TypeError):
        return -1
    return int(low) if high == 0 else -1


def _iterated_addresses(
    ds: h5py.Dataset, n_chunks: int, chunk_rows: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """``_chunk_addresses`` through h5py: one StoreInfo per chunk."""
    found: list = []
    try:
        ds.id.chunk_iter(found.append)
    except (RuntimeError, ValueError, OSError):
        return None
    if len(found) != n_chunks:
        return None
    first_rows = map(_FIRST, map(_FIRST, found))
    firsts = np.fromiter(first_rows, np.int64, n_chunks)
    if np.any(firsts != np.arange(0, n_chunks * chunk_rows, chunk_rows, dtype=np.int64)):
        return None
    if any(map(_MASK, found)):
        return None
    offsets = np.fromiter(map(_OFFSET, found), np.int64, n_chunks)
    sizes = np.fromiter(map(_SIZE, found), np.int64, n_chunks)
    return offsets, sizes


def _stored_payload(
    source: ChunkSource, offsets: np.ndarray, chunk_bytes: int
) -> np.ndarray | None:
    """Payloads of single-stored-block zlib streams, verified; None if any header or checksum
    does not match (HDF5 then reads, and reports, the table). Works through the chunks in
    blocks of ``_BLOCK_BYTES``, dropping the mapped pages after each block."""
    data = source.bytes()
    payload = np.empty((offsets.size, chunk_bytes), dtype=np.uint8)
    stored = np.empty(offsets.size, dtype=np.int64)
    per_block = max(1, _BLOCK_BYTES // chunk_bytes)
    stored_bytes = _STORED_HEAD + chunk_bytes + _ADLER_BYTES
    for first in range(0, offsets.size, per_block):
        block = slice(first, first + per_block)
        where, starts = data, offsets[block]
        low, high = int(starts.min()), int(starts.max()) + stored_bytes
        if high - low <= _SPAN_SLACK * starts.size * stored_bytes + _SPAN_EXTRA:
            # the block's chunks lie close together: one read instead of page faults
            read = source.span(low, high)
            if read is not None:
                where, starts = read, starts - low
        if not _stored_headers_valid(where, starts, chunk_bytes):
            return None
        _strided_copy(where, starts + _STORED_HEAD, payload[block])
        tail = where[starts[:, None] + (_STORED_HEAD + chunk_bytes + np.arange(_ADLER_BYTES))]
        stored[block] = tail.astype(np.int64) @ _BIG_ENDIAN_U32
        source.release()
    if combined_adler32(stored, chunk_bytes) != zlib.adler32(payload):
        return None
    return payload


def _stored_headers_valid(data: np.ndarray, offsets: np.ndarray, chunk_bytes: int) -> bool:
    """Each chunk starts with a zlib header and one final stored block of ``chunk_bytes``."""
    head = data[offsets[:, None] + np.arange(_STORED_HEAD)].astype(np.int64)
    cmf, flg = head[:, 0], head[:, 1]
    length, nlength = head[:, 3] | (head[:, 4] << 8), head[:, 5] | (head[:, 6] << 8)
    valid = ((cmf & 0x0F) == 8) & ((cmf >> 4) <= 7) & (((cmf << 8) | flg) % 31 == 0)
    valid &= (flg & 0x20) == 0  # no preset dictionary
    valid &= (head[:, 2] == 1) & (length == chunk_bytes) & (nlength == chunk_bytes ^ 0xFFFF)
    return bool(valid.all())


def _strided_copy(data: np.ndarray, starts: np.ndarray, out: np.ndarray) -> None:
    """``out.shape[1]`` bytes from each start into the rows of ``out``; each run of evenly
    spaced starts (the common case: chunks written in order) is a single strided copy."""
    chunk_bytes = out.shape[1]
    steps = np.diff(starts)
    breaks = np.flatnonzero(np.diff(steps)) + 1  # run i..j has steps[i:j-1] all equal
    first = 0
    for last in (*breaks.tolist(), starts.size - 1):
        stride = int(steps[first]) if last > first else chunk_bytes
        if stride >= chunk_bytes:
            view = np.lib.stride_tricks.as_strided(
                data[int(starts[first]) :],
                shape=(last - first + 1, chunk_bytes),
                strides=(stride, 1),
                writeable=False,
            )
            out[first : last + 1] = view
        else:  # overlapping chunks: never written by HDF5, copied one by one all the same
            for row in range(first, last + 1):
                out[row] = data[int(starts[row]) : int(starts[row]) + chunk_bytes]
        first = last + 1


def combined_adler32(stored: np.ndarray, chunk_bytes: int) -> int:
    """Adler-32 of the concatenated payloads, from each payload's own Adler-32 (zlib's combine
    rule in closed form): A = 1 + sum(a_i - 1), B = N + sum(b_i - n) + sum((a_i - 1) x bytes
    after chunk i), all modulo 65521."""
    n_chunks = stored.size
    sums = ((stored & 0xFFFF) - 1) % _ADLER_MOD
    weighted = ((stored >> 16) - chunk_bytes) % _ADLER_MOD
    after = ((n_chunks - 1 - np.arange(n_chunks, dtype=np.int64)) * chunk_bytes) % _ADLER_MOD
    total_a = (1 + int(sums.sum())) % _ADLER_MOD
    spread = int(((after * sums) % _ADLER_MOD).sum())
    total_b = (n_chunks * chunk_bytes + int(weighted.sum()) + spread) % _ADLER_MOD
    return (total_b << 16) | total_a


def _inflated_payload(
    source: ChunkSource,
    offsets: np.ndarray,
    sizes: np.ndarray,
    chunk_bytes: int,
    where: str,
    file_label: str,
) -> np.ndarray | None:
    """Compressed chunks, one bounded inflate each; a chunk that inflates to any size but the
    chunk's is an error (HDF5 would pad it with fill values or fail)."""
    data = source.bytes()
    out = np.empty((offsets.size, chunk_bytes), dtype=np.uint8)
    inflated = 0
    for index, (start, size) in enumerate(zip(offsets.tolist(), sizes.tolist(), strict=True)):
        inflated += chunk_bytes
        if inflated >= _BLOCK_BYTES:  # keep the mapped pages to one block's worth
            source.release()
            inflated = 0
        inflater = zlib.decompressobj()
        try:
            chunk = inflater.decompress(data[start : start + size], chunk_bytes)
        except zlib.error:
            return None  # HDF5 reports a corrupt stream in its own words
        if len(chunk) != chunk_bytes or not inflater.eof or inflater.unconsumed_tail:
            raise ProfileError(
                f"{file_label}: chunk {index} of {where} does not inflate to its "
                f"{chunk_bytes} bytes (corrupt or not written by Slurm)"
            )
        out[index] = np.frombuffer(chunk, dtype=np.uint8)
    return out
