"""Who an object is: its `s3://bucket/key` name and its content's ETag, spelled one way.

The name is the analysis `source` (the job_summary primary key), the queue's lock of the
object's jobs and how logs and the CLI show it; an ETag compares without S3's quotes.
"""

from __future__ import annotations


def object_source(bucket: str, key: str = "") -> str:
    """`s3://bucket/key`: the analysis source of an object (a prefix when `key` is one)."""
    return f"s3://{bucket}/{key}"


def normalise_etag(etag: str | None) -> str | None:
    """S3 answers `"abc"` (quoted) where notifications say `abc`; compare without quotes."""
    if etag is None:
        return None
    etag = etag.strip().strip('"')
    return etag or None
