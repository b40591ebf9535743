"""Ceph RADOS Gateway bucket notifications: their shape and their authentication. Pure.

The gateway posts `{"Records": [one record]}` with no top-level `EventName` or `Key`; the
record's `eventSource` is `ceph:s3`, its `eventName` has no `s3:` prefix
(`ObjectCreated:Put`), its `s3.object.key` is NOT URL-encoded, and metadata is a list of
`{"key", "val"}` pairs (we read none of it, so any shape passes). It sends no bearer token:
a topic authenticates with a shared secret in its `OpaqueData` attribute (copied verbatim
into every record as `opaqueData`), or with `user:password` in its push endpoint (sent as
`Authorization: Basic ...`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

CEPH_EVENT_SOURCE = "ceph:s3"
S3_EVENT_PREFIX = "s3:"
REDACTED = "[redacted]"


def is_ceph_record(record: dict[str, Any]) -> bool:
    return record.get("eventSource") == CEPH_EVENT_SOURCE


def canonical_event_name(event_name: str) -> str:
    """`ObjectCreated:Put` (Ceph) -> `s3:ObjectCreated:Put` (S3 and MinIO)."""
    if event_name.startswith(S3_EVENT_PREFIX):
        return event_name
    return S3_EVENT_PREFIX + event_name


def _same(provided: str, expected: str) -> bool:
    return hmac.compare_digest(provided.encode("utf-8"), expected.encode("utf-8"))


def basic_auth_matches(authorization: str, token: str) -> bool:
    """`Authorization: Basic base64(user:password)` whose password is `token` (any user)."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    _, sep, password = decoded.partition(":")
    return bool(sep) and _same(password, token)


def opaque_data_matches(document: Any, token: str) -> bool:
    """Every record of the body carries `opaqueData` equal to `token`."""
    records = document.get("Records") if isinstance(document, dict) else None
    if not isinstance(records, list) or not records:
        return False
    matches = [
        isinstance(record, dict)
        and isinstance(record.get("opaqueData"), str)
        and _same(record["opaqueData"], token)
        for record in records
    ]  # every record compared, so the time does not tell which one failed
    return all(matches)


def is_authentic(authorization: str, document: Any, token: str) -> bool:
    return basic_auth_matches(authorization, token) or opaque_data_matches(document, token)


def redact_opaque_data(document: Any) -> None:
    """The shared secret must not land in the event log: replace it in place."""
    records = document.get("Records") if isinstance(document, dict) else None
    for record in records if isinstance(records, list) else ():
        if isinstance(record, dict) and "opaqueData" in record:
            record["opaqueData"] = REDACTED
