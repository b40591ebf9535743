"""Per-user quotas (USER_MAX_OBJECTS objects, USER_MAX_BYTES bytes), checked when an upload
URL or POST policy is issued.

Usage is the namespace's listing in the store (at most two pages: counting stops past the
object limit), kept per process for QUOTA_CACHE_S. Uploads issued since the listing count
as reserved (once per key, with their declared size), so a burst of presigns can't run past
the quota while the cache is fresh. Deleting an object forgets the cached listing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from ..core.config import Settings
from ..core.errors import Conflict, PayloadTooLarge
from .s3 import ObjectStore


@dataclass
class Usage:
    objects: int
    bytes: int
    measured_at: float = 0.0  # time.monotonic()
    reserved: dict[str, int] = field(default_factory=dict)  # key -> declared bytes

    def counted(self, key: str) -> tuple[int, int]:
        """(objects, bytes) including reservations, leaving out `key`'s own reservation."""
        others = {k: v for k, v in self.reserved.items() if k != key}
        return self.objects + len(others), self.bytes + sum(others.values())


class QuotaExceeded(Conflict):
    code = "quota_exceeded"


class ByteQuotaExceeded(PayloadTooLarge):
    code = "quota_exceeded"


class QuotaLedger:
    """One per process; thread-safe (presigns run on the event loop and on worker threads)."""

    def __init__(self, settings: Settings, store: ObjectStore):
        self._settings = settings
        self._store = store
        self._usage: dict[str, Usage] = {}
        self._lock = threading.Lock()

    def cached(self, namespace: str, margin_s: float = 0.0) -> Usage | None:
        """The usage if it stays fresh for `margin_s` more seconds."""
        usage = self._usage.get(namespace)
        age_s = time.monotonic() - usage.measured_at if usage else 0.0
        if usage is None or age_s + margin_s >= self._settings.quota_cache_s:
            return None
        return usage

    def needs_store(self, namespace: str) -> bool:
        """True when checking a new upload may call the store (so: not on the event loop).
        False only while the cached usage stays fresh for a while longer."""
        usage = self.cached(namespace, margin_s=1.0)
        return usage is None or usage.counted("")[0] >= self._settings.user_max_objects

    def _measure(self, namespace: str) -> Usage:
        usage = self.cached(namespace)
        if usage is None:
            objects, size = self._store.usage(namespace + "/", self._settings.user_max_objects)
            usage = Usage(objects, size, time.monotonic())
            with self._lock:
                self._usage[namespace] = usage
        return usage

    def check_and_reserve(self, namespace: str, key: str, size_bytes: int | None) -> int:
        """The bytes the upload of `key` may still use, or 409/413 with the reason."""
        settings = self._settings
        usage = self._measure(namespace)
        with self._lock:
            objects, used_bytes = usage.counted(key)
        if objects >= settings.user_max_objects and self._store.head(key) is None:
            raise QuotaExceeded(
                f"you have reached your quota of {settings.user_max_objects} objects "
                "(USER_MAX_OBJECTS); delete some before uploading more"
            )
        remaining = settings.user_max_bytes - used_bytes
        if remaining <= 0 or (size_bytes is not None and size_bytes > remaining):
            raise ByteQuotaExceeded(
                f"this upload would exceed your quota of {settings.user_max_bytes} bytes "
                f"(USER_MAX_BYTES); {max(0, remaining)} bytes are left"
            )
        with self._lock:
            usage.reserved[key] = size_bytes or 0
        return remaining

    def forget(self, namespace: str) -> None:
        with self._lock:
            self._usage.pop(namespace, None)
