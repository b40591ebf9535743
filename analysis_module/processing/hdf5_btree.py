"""Chunk addresses of a Slurm series table straight from its version-1 B-tree.

h5py's ``chunk_iter`` builds one Python object per chunk (a 24 h job has a few million chunks
of 10 rows); this reads the same index from the file map with a few numpy gathers per tree
level. Only the layout HDF5 1.8 and Slurm write is parsed: a version-1 object header whose
data layout message is version 3, chunked, two dimensions (rows and the record's bytes), and
a version-1 B-tree of raw-data chunk nodes, every field little-endian with 8-byte addresses
and lengths. Anything else, and any address, level, count or key that does not fit, returns
``None``: the caller then walks the chunks through h5py. A parsed index that is wrong for any
reason fails the caller's per-chunk header and checksum tests, and h5py reads the table.
"""

from __future__ import annotations

import numpy as np

_OBJECT_HEADER_V1 = 1
_PREFIX = 16  # version, reserved, message count, reference count, header size, padding
_MESSAGE_HEAD = 8  # type (2), size (2), flags (1), reserved (3)
_CONTINUATION = 0x0010
_LAYOUT = 0x0008
_MAX_BLOCKS = 64  # header continuation blocks followed at most (Slurm's tables have none)
_LAYOUT_V3, _CHUNKED = 3, 2
_TREE = np.frombuffer(b"TREE", dtype=np.uint8)
_RAW_DATA_NODE = 1
_NODE_HEAD = 24  # signature (4), node type (1), level (1), entries used (2), two siblings (16)
_NODE_HEAD_RANGE = np.arange(_NODE_HEAD)
# one entry of a raw-data node of a 2-D (rows x record bytes) chunk index: key, then child
_ENTRY = np.dtype(
    [("size", "<u4"), ("mask", "<u4"), ("row", "<u8"), ("byte", "<u8"), ("child", "<u8")]
)
_ENTRY_RANGE = np.arange(_ENTRY.itemsize)
_FINAL_KEY = 24  # the key after a node's last child
_MAX_ADDRESS = 1 << 62


def btree_chunks(
    data: np.ndarray, header: int, n_chunks: int, chunk_rows: int, record_bytes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(file offsets, stored sizes, filter masks) of the ``n_chunks`` chunks in row order, read
    from the B-tree of the dataset whose object header is at ``header`` in ``data``; None when
    the layout is not the one described above or the index does not list exactly chunks
    0, ``chunk_rows``, 2 x ``chunk_rows``... (the caller then asks h5py)."""
    root = _btree_address(data, header, chunk_rows, record_bytes)
    if root is None or n_chunks <= 0:
        return None
    nodes = np.array([root], dtype=np.int64)
    level = None
    while True:
        found = _entries(data, nodes, n_chunks, level)
        if found is None:
            return None
        entries, level = found
        if level == 0:
            break
        nodes = entries["child"].astype(np.int64)
        level -= 1
    if entries.size != n_chunks or np.any(entries["byte"] != 0):
        return None
    rows = np.arange(0, n_chunks * chunk_rows, chunk_rows, dtype=np.uint64)
    if np.any(entries["row"] != rows) or np.any(entries["child"] >= _MAX_ADDRESS):
        return None
    return (
        entries["child"].astype(np.int64),
        entries["size"].astype(np.int64),
        entries["mask"].astype(np.int64),
    )


def _entries(
    data: np.ndarray, nodes: np.ndarray, n_chunks: int, level: int | None
) -> tuple[np.ndarray, int] | None:
    """Every entry of ``nodes`` (one tree level, left to right) and their level; None when a
    node is out of the file, no raw-data node, at another level or holds no entry."""
    if nodes.size > n_chunks or int(nodes.min()) < 0 or int(nodes.max()) >= data.size:
        return None
    if int(nodes.max()) + _NODE_HEAD > data.size:
        return None
    head = data[nodes[:, None] + _NODE_HEAD_RANGE]
    if not (head[:, :4] == _TREE).all() or not (head[:, 4] == _RAW_DATA_NODE).all():
        return None
    levels = head[:, 5]
    expected = int(levels[0]) if level is None else level
    if not (levels == expected).all():
        return None
    used = head[:, 6].astype(np.int64) | (head[:, 7].astype(np.int64) << 8)
    total = int(used.sum())
    if (used == 0).any() or total > n_chunks:
        return None
    ends = nodes + _NODE_HEAD + used * _ENTRY.itemsize + _FINAL_KEY
    if int(ends.max()) > data.size:
        return None
    before = np.repeat(np.cumsum(used) - used, used)
    starts = np.repeat(nodes + _NODE_HEAD, used) + (np.arange(total) - before) * _ENTRY.itemsize
    raw = data[starts[:, None] + _ENTRY_RANGE]
    return raw.view(_ENTRY).reshape(total), expected


def _btree_address(data: np.ndarray, header: int, chunk_rows: int, record_bytes: int) -> int | None:
    """The chunk B-tree's address from the data layout message of a version-1 object header."""
    for start, size in _messages(data, header, _LAYOUT):
        if size < 19:
            return None
        body = data[start : start + 19]
        if int(body[0]) != _LAYOUT_V3 or int(body[1]) != _CHUNKED or int(body[2]) != 2:
            return None
        address = _u64(body, 3)
        dims = body[11:19].view("<u4")
        if int(dims[0]) != chunk_rows or int(dims[1]) != record_bytes:
            return None
        return address if address < _MAX_ADDRESS else None
    return None


def _messages(data: np.ndarray, header: int, wanted: int) -> list[tuple[int, int]]:
    """(start, size) of the messages of type ``wanted``, continuation blocks followed."""
    if header < 0 or header + _PREFIX > data.size or int(data[header]) != _OBJECT_HEADER_V1:
        return []
    count = int(data[header + 2 : header + 4].view("<u2")[0])
    blocks = [(header + _PREFIX, int(data[header + 8 : header + 12].view("<u4")[0]))]
    found: list[tuple[int, int]] = []
    seen = visited = 0
    while blocks and seen < count and visited < _MAX_BLOCKS:
        start, size = blocks.pop(0)
        visited += 1
        position, end = start, start + size
        if start < 0 or end > data.size:
            return []
        while position + _MESSAGE_HEAD <= end and seen < count:
            kind = int(data[position : position + 2].view("<u2")[0])
            length = int(data[position + 2 : position + 4].view("<u2")[0])
            body = position + _MESSAGE_HEAD
            if body + length > end:
                return []
            seen += 1
            if kind == wanted:
                found.append((body, length))
            elif kind == _CONTINUATION and length >= 16:
                block = data[body : body + 16].view("<u8")
                if int(block[0]) >= _MAX_ADDRESS or int(block[1]) >= _MAX_ADDRESS:
                    return []
                blocks.append((int(block[0]), int(block[1])))
            position = body + length
    return found


def _u64(data: np.ndarray, at: int) -> int:
    return int(data[at : at + 8].view("<u8")[0])
