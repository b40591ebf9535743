"""Names of the per-job tables: `job_<stem>`, valid everywhere, never shared by two sources."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import PurePosixPath

MAX_IDENTIFIER_BYTES = 63  # PostgreSQL truncates longer identifiers silently
TABLE_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Shared tables a profile named `summary.h5`, `step_node.h5`, `files.h5` or `samples.h5` must
# never land in.
RESERVED_TABLE_NAMES = frozenset({"job_summary", "job_step_node", "job_files", "job_samples"})


def source_stem(source: str) -> str:
    """The file name without `.h5` of a local path or an `s3://bucket/key` source."""
    name = PurePosixPath(source.replace("\\", "/")).name
    return name[:-3] if name.lower().endswith(".h5") else name


def _digest(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def base_table_name(stem: str) -> str:
    """`job_<stem>` folded to `[a-z0-9_]`, at most 63 bytes; `job_5` stays `job_5`."""
    folded = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_") or "profile"
    name = folded if folded.startswith("job_") or folded == "job" else f"job_{folded}"
    if len(name) > MAX_IDENTIFIER_BYTES or name in RESERVED_TABLE_NAMES:
        # Keep the readable start and make the cut-off part count through a digest.
        name = f"{name[: MAX_IDENTIFIER_BYTES - 9]}_{_digest(stem)}"
    return name


def table_name_for(source: str, owner_of: Callable[[str], str | None]) -> str:
    """The table for `source`: `job_<stem>` unless another source already holds that name.

    `owner_of(name)` answers which source holds a table name today (None when free). A second
    source with the same stem (`a/job_5.h5`, `b/job_5.h5`) gets a suffix derived from its own
    source string, so the name is stable across re-analysis and nobody overwrites anybody.
    """
    name = base_table_name(source_stem(source))
    holder = owner_of(name)
    if holder is None or holder == source:
        return name
    return f"{name[: MAX_IDENTIFIER_BYTES - 9]}_{_digest(source)}"


def is_valid_table_name(name: str) -> bool:
    return bool(TABLE_NAME_RE.match(name))
