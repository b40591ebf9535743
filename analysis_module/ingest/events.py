"""MinIO/S3 bucket notifications -> typed records. Pure: bytes in, dataclasses out, no I/O.

MinIO posts `{"EventName", "Key", "Records": [...]}` with one record per request (we accept
any number). A record's `s3.object.key` is query-escaped (`/` as `%2F`, space as `+`), so it is
decoded with `unquote_plus`. Ceph's gateway sends its own shape (`ceph_events.py`): plain keys,
event names without `s3:`. Every problem becomes a one-line reason, never an exception: the
listener records it and still answers 2xx, so MinIO's persistent queue never blocks on it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_plus

from analysis_module.ingest.ceph_events import canonical_event_name, is_ceph_record
from analysis_module.pipeline_core.identity import normalise_etag
from analysis_module.pipeline_core.job_files import likwid_job_id
from analysis_module.pipeline_core.text import one_line

# Only these four create new content; `s3:ObjectCreated:*` also covers PutRetention,
# PutLegalHold, PutTagging and DeleteTagging, which change metadata only.
CONTENT_EVENTS = frozenset(
    {
        "s3:ObjectCreated:Put",
        "s3:ObjectCreated:Post",
        "s3:ObjectCreated:Copy",
        "s3:ObjectCreated:CompleteMultipartUpload",
    }
)
REMOVAL_PREFIX = "s3:ObjectRemoved:"
PROFILE_SUFFIX = ".h5"
MAX_KEY_BYTES = 1024  # S3's own limit
MAX_DEPTH = 32  # MinIO's and Ceph RGW's records nest 5 levels deep


class EventKind(StrEnum):
    CREATED = "created"  # new content under the key
    REMOVED = "removed"
    OTHER = "other"  # metadata changes, reads, anything else


@dataclass(frozen=True)
class ObjectEvent:
    """One well-formed notification record about one object."""

    event_name: str
    bucket: str
    key: str  # decoded
    etag: str | None  # without quotes; only create events carry it
    version_id: str | None
    size_bytes: int | None
    event_time: str | None
    record: dict[str, Any]  # the record as received, for the event log

    @property
    def kind(self) -> EventKind:
        if self.event_name in CONTENT_EVENTS:
            return EventKind.CREATED
        if self.event_name.startswith(REMOVAL_PREFIX):
            return EventKind.REMOVED
        return EventKind.OTHER


@dataclass(frozen=True)
class RejectedRecord:
    """A record (or a whole body) we cannot act on, with what we could still read of it."""

    reason: str
    event_name: str | None = None
    bucket: str | None = None
    key: str | None = None
    record: Any = None


@dataclass(frozen=True)
class Notification:
    """A parsed request body: its records, and the body itself when it was JSON."""

    records: list[ObjectEvent | RejectedRecord]
    body: Any  # the decoded JSON, or {"unparsed": "..."} when it was not JSON


def is_profile_key(key: str) -> bool:
    """Slurm HDF5 profiles are the objects we analyse; MinIO's suffix filter is `.h5` too."""
    return key.lower().endswith(PROFILE_SUFFIX)


def is_likwid_key(key: str) -> bool:
    """likwid-perfctr output whose folder or name gives its Slurm job (docs/jobs.md)."""
    return key.lower().endswith(".csv") and likwid_job_id(key) is not None


def owner_of(key: str, namespace_prefix: str) -> str | None:
    """The key's first segment when it is a user namespace (`user-7f3c2a/...`), else None."""
    head, sep, _ = key.partition("/")
    if sep and namespace_prefix and head.startswith(namespace_prefix) and head != namespace_prefix:
        return head
    return None


def parse_notification(body: bytes, *, max_preview_chars: int = 2000) -> Notification:
    """Decode a webhook request body; never raises for bad input.

    Whatever comes back can be stored as it is: a body that PostgreSQL could not keep in a
    `jsonb` or `text` column (NUL, lone surrogates, NaN or infinite numbers) or that nests
    deeper than MAX_DEPTH is rejected with the reason and a cleaned preview.
    """
    problem = None
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        problem = "body is not valid UTF-8"
    except RecursionError:
        problem = f"body nests deeper than {MAX_DEPTH} levels"
    except ValueError as exc:  # JSONDecodeError, and the constants we refuse
        problem = f"body is not valid JSON: {one_line(exc)}"
    else:
        problem = unstorable(document)
    if problem is not None:
        preview = storable_text(body[:max_preview_chars].decode("utf-8", errors="replace"))
        return Notification([RejectedRecord(problem)], {"unparsed": preview})
    return parse_document(document)


def parse_document(document: Any) -> Notification:
    """A decoded, storable body -> its records (MinIO's shape: an object with `Records`)."""
    if not isinstance(document, dict):
        return Notification(
            [RejectedRecord(f"body is a JSON {type(document).__name__}, not an object")], document
        )
    records = document.get("Records")
    if not isinstance(records, list) or not records:
        return Notification([RejectedRecord("body has no non-empty 'Records' list")], document)
    return Notification([parse_record(record) for record in records], document)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def unstorable(document: Any) -> str | None:
    """Why PostgreSQL could not store this decoded JSON as it is, or None when it can."""
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"body nests deeper than {MAX_DEPTH} levels"
        if isinstance(node, dict):
            for name, value in node.items():
                if (problem := _text_problem(name)) is not None:
                    return problem
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
        elif isinstance(node, str):
            if (problem := _text_problem(node)) is not None:
                return problem
        elif isinstance(node, float) and not math.isfinite(node):
            return "body holds a number too large to store"
    return None


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "body holds a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "body holds a lone surrogate (not a character)"
    return None


def storable_text(text: str) -> str:
    """`text` with NUL and lone surrogates replaced, for the event log's text columns."""
    text = text.replace("\x00", "\ufffd")
    return text.encode("utf-8", errors="replace").decode("utf-8")


def parse_record(record: Any) -> ObjectEvent | RejectedRecord:
    """One entry of `Records`, checked field by field."""
    if not isinstance(record, dict):
        return RejectedRecord(f"record is a JSON {type(record).__name__}, not an object")
    ceph = is_ceph_record(record)
    event_name = record.get("eventName")
    if ceph and isinstance(event_name, str) and event_name:
        event_name = canonical_event_name(event_name)
    s3 = record.get("s3")
    bucket = _get(s3, "bucket", "name")
    raw_key = _get(s3, "object", "key")
    seen = {
        "event_name": event_name if isinstance(event_name, str) else None,
        "bucket": bucket if isinstance(bucket, str) else None,
        "record": record,
    }
    if not isinstance(event_name, str) or not event_name:
        return RejectedRecord("record has no 'eventName'", **seen)
    if not isinstance(bucket, str) or not bucket:
        return RejectedRecord("record has no 's3.bucket.name'", **seen)
    if not isinstance(raw_key, str) or not raw_key:
        return RejectedRecord("record has no 's3.object.key'", **seen)
    try:
        key = raw_key if ceph else unquote_plus(raw_key, errors="strict")  # Ceph's is plain
    except UnicodeDecodeError:
        return RejectedRecord("object key does not decode to UTF-8", **seen)
    seen["key"] = storable_text(key)
    if len(key.encode()) > MAX_KEY_BYTES or "\x00" in key:
        return RejectedRecord("object key is longer than 1024 bytes or holds a NUL", **seen)

    obj = s3["object"]
    etag = obj.get("eTag")
    version_id = obj.get("versionId")
    size = obj.get("size")
    if etag is not None and not isinstance(etag, str):
        return RejectedRecord("'eTag' is not a string", **seen)
    if version_id is not None and not isinstance(version_id, str):
        return RejectedRecord("'versionId' is not a string", **seen)
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        return RejectedRecord("'size' is not a non-negative integer", **seen)
    event = ObjectEvent(
        event_name=event_name,
        bucket=bucket,
        key=key,
        etag=normalise_etag(etag),
        version_id=version_id or None,
        size_bytes=size,
        event_time=record.get("eventTime") if isinstance(record.get("eventTime"), str) else None,
        record=record,
    )
    if event.kind is EventKind.CREATED and event.etag is None:
        return RejectedRecord(f"{event_name} record has no 'eTag'", **seen)
    return event


def _get(node: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(node, dict):
            return None
        node = node.get(name)
    return node
