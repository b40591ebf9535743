"""The opaque `cursor` of GET /jobs: the sort key of the last job a page showed.

Jobs are ordered newest first by (sort time, source), a total order (a job key is unique), so
the next page is everything strictly after that pair: jobs inserted between two requests
neither shift the pages (as an offset would) nor make a job repeat or go missing.

The cursor is unpadded URL-safe base64 of `{"t": <ISO 8601 time>, "s": <source>}`. It needs no
signature: the owner filter is applied to every page, so an edited cursor can only move
within the caller's own jobs.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from ..core.errors import BadRequest

MAX_CURSOR_CHARS = 4096
_INVALID = "cursor is not one GET /jobs returned (pass next_cursor unchanged)"


@dataclass(frozen=True)
class Cursor:
    sort_at: datetime
    source: str


def encode(sort_at: datetime, source: str) -> str:
    payload = json.dumps({"t": sort_at.isoformat(), "s": source}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode("utf-8")).rstrip(b"=").decode("ascii")


def decode(text: str) -> Cursor:
    if len(text) > MAX_CURSOR_CHARS:
        raise BadRequest(_INVALID, code="invalid_cursor")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw.decode("utf-8"))
        sort_at = datetime.fromisoformat(data["t"])
        source = data["s"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise BadRequest(_INVALID, code="invalid_cursor") from None
    if not isinstance(source, str) or "\x00" in source or sort_at.tzinfo is None:
        raise BadRequest(_INVALID, code="invalid_cursor")
    return Cursor(sort_at, source)
