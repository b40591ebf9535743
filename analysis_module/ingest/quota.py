"""Per-user quotas, re-checked when an upload arrives (the API checks them when it issues the
upload URL; a client holding an old URL, or writing to the store directly, is caught here).

The rule (docs/api.md, Quotas): after the upload, the owner's objects number at most
USER_MAX_OBJECTS and total at most USER_MAX_BYTES. "After the upload" means at the moment it
arrived: the owner's objects are ordered by arrival (last modified, then key), and only those
that arrived no later than this one count. So of a burst of uploads the first ones within the
quota are analysed, whatever order the worker takes them in, and the later ones are over quota
until the user deletes enough older objects (the next rescan then analyses them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class OwnerQuota:
    max_objects: int
    max_bytes: int


@dataclass(frozen=True)
class Usage:
    objects: int
    bytes: int


def _arrival(info: Any) -> tuple[int, str]:
    """Whole seconds, as HEAD's Last-Modified says them (a listing may add milliseconds)."""
    modified = info.last_modified
    return (math.floor(modified.timestamp()) if isinstance(modified, datetime) else 0, info.key)


def usage_up_to(listing: Iterable[Any], arrived: Any) -> Usage:
    """The owner's usage counting the objects of `listing` (ObjectInfo: key, size,
    last_modified) that arrived no later than `arrived` (this object's HEAD), plus this one
    at its current size."""
    mine = _arrival(arrived)
    objects = size = 0
    for info in listing:
        if info.key != arrived.key and _arrival(info) <= mine:
            objects += 1
            size += info.size
    return Usage(objects + 1, size + arrived.size)


def over_quota_reason(usage: Usage, quota: OwnerQuota) -> str | None:
    """One line naming the limit that this upload goes past, or None within the quota."""
    if usage.objects > quota.max_objects:
        return (
            f"over quota: the owner's {usage.objects} objects exceed "
            f"USER_MAX_OBJECTS={quota.max_objects}; delete some, and the next rescan "
            "analyses this one"
        )
    if usage.bytes > quota.max_bytes:
        return (
            f"over quota: the owner's {_size(usage.bytes)} exceed "
            f"USER_MAX_BYTES={_size(quota.max_bytes)}; delete some, and the next rescan "
            "analyses this one"
        )
    return None


def _size(n_bytes: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n_bytes >= factor:
            return f"{n_bytes / factor:.1f} {unit} ({n_bytes} bytes)"
    return f"{n_bytes} bytes"
