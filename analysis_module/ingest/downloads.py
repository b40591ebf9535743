"""The worker's download folder: one private folder per download, named by the process only.

Names never derive from the object key (a 248-character key would not fit a file name), so a
download is `<INGEST_DOWNLOAD_DIR>/benchsuite-ingest-<host>-<pid>-<random>/object.h5`. A worker
killed mid-download leaves its folder behind; the next worker on the host removes the folders of
processes that no longer run, and never touches anything without the prefix.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "benchsuite-ingest-"
FILE_NAME = "object.h5"


def _host() -> str:
    """The host name as a file-name-safe word."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:64] or "host"


def _own_prefix(pid: int | None = None) -> str:
    return f"{PREFIX}{_host()}-{pid or os.getpid()}-"


@contextlib.contextmanager
def download_path(download_dir: Path | None) -> Iterator[Path]:
    """A fixed-length path to download one object to; the folder is removed afterwards."""
    with download_folder(download_dir) as folder:
        yield folder / FILE_NAME


@contextlib.contextmanager
def download_folder(download_dir: Path | None) -> Iterator[Path]:
    """A private folder to download several objects to (a job's files); removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=_own_prefix(), dir=download_dir))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def clean_download_dir(download_dir: Path | None) -> int:
    """At start-up: remove what dead workers of this host left; returns how many folders."""
    root = Path(download_dir or tempfile.gettempdir())
    pattern = re.compile(re.escape(f"{PREFIX}{_host()}-") + r"(\d+)-")
    removed = 0
    try:
        entries = list(root.iterdir())
    except OSError as exc:
        log.warning("cannot look into the download folder %s: %s", root, exc)
        return 0
    for entry in entries:
        match = pattern.match(entry.name)
        if not match or not entry.is_dir() or entry.is_symlink():
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and _is_running(pid):
            continue  # another worker of this host is using it
        # (our own pid at start-up: a container restarted with the same pid left it)
        shutil.rmtree(entry, ignore_errors=True)
        removed += 1
    if removed:
        log.info("removed %d download folder(s) left by dead workers in %s", removed, root)
    return removed


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
