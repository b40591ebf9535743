"""Give memory the C heap has freed back to the operating system.

Walking a large profile's structure makes the HDF5 library allocate and free millions of small
blocks (chunk index records): ~310 MB for the 64-node x 16-task x 24 h job. glibc keeps freed
small blocks in its heap, and the large arrays read afterwards are mapped apart from it, so
that heap would stay resident for the whole job on top of everything else. ``malloc_trim``
returns it. A C library without it (not glibc) keeps its own policy; nothing is lost.
"""

from __future__ import annotations

import ctypes


def return_freed_memory() -> None:
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
