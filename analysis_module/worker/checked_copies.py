"""The bucket as the worker's services see it, keeping small files of Slurm jobs it downloaded.

A job's file is downloaded twice: once when it arrives, to check it, and again when the job is
analysed after the quiet period, with `If-Match` on the ETag it was checked at. For a small
file the second request costs as much as the analysis' own reading of it. `CheckedCopies`
keeps the bytes of small job files it downloaded, by key and ETag, and serves a later download
of the same key at the same ETag from them, without a request.

What is served is exactly the content of that ETag, as before. What is not done any more is
asking the store, at the job's analysis, whether the object still has that ETag: a file removed
or replaced since its check is analysed in its checked content, and its removal or its new
content (event or rescan) queues the job's analysis again, which replaces that result. Files
that are not a job's, or larger than `max_file_bytes`, are never kept; the copies total at most
`max_bytes`, least recently used first out, each for at most `max_age_s`.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from analysis_module.ingest import members
from analysis_module.pipeline_core.identity import object_source


class CheckedCopies:
    """Wraps the worker's `Objects` (list, head, download); thread-safe."""

    def __init__(
        self,
        objects: Any,
        *,
        max_file_bytes: int = 1024 * 1024,
        max_bytes: int = 32 * 1024 * 1024,
        max_age_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.objects = objects
        self.bucket = objects.bucket
        self.max_file_bytes = max_file_bytes
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._copies: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()
        self._bytes = 0

    def list_objects(self, prefix: str = "") -> Iterator[Any]:
        return self.objects.list_objects(prefix)

    def head(self, key: str) -> Any:
        return self.objects.head(key)

    def download(self, key: str, dest_path: Path, *, etag: str | None = None) -> str:
        """As `ObjectStore.download`; served from a kept copy when one has that ETag."""
        dest_path = Path(dest_path)
        data = self._copy(key, etag) if etag else None
        if data is not None:
            partial = dest_path.with_name(dest_path.name + ".part")
            try:
                partial.write_bytes(data)
                os.replace(partial, dest_path)
            finally:
                partial.unlink(missing_ok=True)
            return etag
        written = self.objects.download(key, dest_path, etag=etag)
        if written and members.job_of(object_source(self.bucket, key)) is not None:
            size = dest_path.stat().st_size
            if size <= self.max_file_bytes:
                self._keep(key, written, dest_path.read_bytes())
        return written

    def _copy(self, key: str, etag: str) -> bytes | None:
        with self._lock:
            entry = self._copies.get((key, etag))
            if entry is None:
                return None
            kept_at, data = entry
            if self._clock() - kept_at > self.max_age_s:
                self._drop((key, etag))
                return None
            self._copies.move_to_end((key, etag))
            return data

    def _keep(self, key: str, etag: str, data: bytes) -> None:
        with self._lock:
            self._drop((key, etag))
            self._copies[(key, etag)] = (self._clock(), data)
            self._bytes += len(data)
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._copies)))

    def _drop(self, name: tuple[str, str]) -> None:
        entry = self._copies.pop(name, None)
        if entry is not None:
            self._bytes -= len(entry[1])
