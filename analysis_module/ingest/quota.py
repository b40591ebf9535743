"""Per-user quotas, re-checked when an upload arrives (the API checks them when it issues the
upload URL; a client holding an old URL, or writing to the store directly, is caught here).

The rule (docs/api.md, Quotas): after the upload, the owner's objects number at most
USER_MAX_OBJECTS and total at most USER_MAX_BYTES. "After the upload" means at the moment it
arrived: the owner's objects are ordered by arrival (last modified, then key), and only those
that arrived no later than this one count. So of a burst of uploads the first ones within the
quota are analysed, whatever order the worker takes them in, and the later ones are over quota
until the user deletes enough older objects (the next rescan then analyses them).

Listing the owner's namespace for every arrival costs one request and one entry per object the
owner has (at 600 objects, most of a small job's check). `OwnerListings` keeps each owner's
last listing for a short while, and an arrival within the quota by that listing needs no
listing of its own when the listing is sure to hold every object that counts for it (below).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
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


def measure_listing(
    listing: Iterable[Any], arrived: Any, *, keep_up_to: int
) -> tuple[Usage, list[Any] | None]:
    """`usage_up_to` of a listing read once, and its entries when there are at most
    `keep_up_to` of them (for `OwnerListings.keep`; None past that, to bound the memory)."""
    kept: list[Any] | None = []
    usage = usage_up_to(_keeping(listing, kept, keep_up_to), arrived)
    return usage, kept if kept is None or len(kept) <= keep_up_to else None


def _keeping(listing: Iterable[Any], kept: list[Any], limit: int):
    for info in listing:
        if len(kept) <= limit:
            kept.append(info)
        yield info


# A listing holds every object that arrived in a second S once the store served it at S + 2
# or later (its Date header, whole seconds, may be stamped after the listing was read; one
# more second covers that and a small skew between gateways).
COVER_MARGIN_S = 2


class OwnerListings:
    """Each owner's last listing (at most `max_owners`, each at most `max_age_s` old and of at
    most `max_objects` entries), for the quota check of the owner's next arrivals.

    A listing served at T holds every object of the owner that exists now and arrived in a
    second up to T - COVER_MARGIN_S (they existed when it was read), with their current size:
    for such an arrival its usage is at most the listing's usage (objects removed or
    overwritten since are counted too, never fewer). So a listing that finds the arrival
    within the quota proves it; past the quota the caller lists again for the exact answer.
    Not covered: a multipart upload, whose Last-Modified is when it started, that completes
    after the listing is counted from the next listing on (`max_age_s` bounds how long).
    """

    def __init__(
        self,
        *,
        max_age_s: float = 30.0,
        max_owners: int = 64,
        max_objects: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_age_s = max_age_s
        self.max_owners = max_owners
        self.max_objects = max_objects
        self._clock = clock
        self._by_owner: OrderedDict[str, tuple[float, int, list[Any]]] = OrderedDict()

    def covering(self, owner: str, arrived: Any) -> list[Any] | None:
        """The owner's kept listing if it holds every object that counts for `arrived`."""
        entry = self._by_owner.get(owner)
        modified = getattr(arrived, "last_modified", None)
        if entry is None or not isinstance(modified, datetime):
            return None
        kept_at, served_s, listing = entry
        if self._clock() - kept_at > self.max_age_s:
            del self._by_owner[owner]
            return None
        if math.floor(modified.timestamp()) + COVER_MARGIN_S > served_s:
            return None
        return listing

    def keep(self, owner: str, listing: list[Any] | None) -> None:
        """Keep a complete listing of the owner's namespace whose every entry says when the
        store served it (`listed_at`); one without is not kept."""
        served = [getattr(info, "listed_at", None) for info in listing or ()]
        if not served or not all(isinstance(at, datetime) for at in served):
            return
        served_s = math.floor(min(at.timestamp() for at in served))  # the earliest page
        self._by_owner.pop(owner, None)
        self._by_owner[owner] = (self._clock(), served_s, listing)
        while len(self._by_owner) > self.max_owners:
            self._by_owner.popitem(last=False)


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
