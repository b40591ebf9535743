"""Plain S3 access to the configured bucket (MinIO, Ceph RGW, Garage, SeaweedFS or AWS).

Path-style addressing and SigV4, bounded timeouts and botocore's own limited retries. Errors
come out as `TransientError` (unreachable, timeouts, 5xx, throttling) or `TerminalError`
(`ObjectNotFound` for a missing key or bucket, access denied, bad request).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from analysis_module.pipeline_core.errors import ObjectNotFound, TerminalError, TransientError
from analysis_module.pipeline_core.identity import normalise_etag, object_source
from analysis_module.pipeline_core.text import one_line
from analysis_module.settings import ObjectStoreConfig

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchBucket", "NoSuchVersion"}
TRANSIENT_CODES = {
    "500",
    "502",
    "503",
    "504",
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "Throttling",
    "XMinioServerNotInitialized",
    "PreconditionFailed",
    "412",  # the object changed between HEAD and GET: look again
}


NETWORK_ERRORS = (
    BotoConnectionError,
    HTTPClientError,
    IncompleteReadError,
    ConnectionError,
    TimeoutError,
)


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    etag: str  # without quotes
    size: int
    last_modified: datetime | None = None
    version_id: str | None = None
    # user metadata from a HEAD (`x-amz-meta-<name>` as {name: value}, names in lower case)
    metadata: dict[str, str] = field(default_factory=dict)
    # a listing's entry: when the store served its page, by the store's clock (its Date header)
    listed_at: datetime | None = None


class ObjectStore:
    """The configured bucket (MINIO_BUCKET) through one boto3 client (thread-safe for these
    calls); `config` is `AnalysisSettings.object_store_config()`."""

    def __init__(self, config: ObjectStoreConfig):
        self.bucket = config.bucket
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=config.endpoint_url,
            aws_access_key_id=config.access_key,
            aws_secret_access_key=config.secret_key,
            region_name=config.region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=config.connect_timeout_s,
                read_timeout=config.read_timeout_s,
                retries={"max_attempts": config.max_attempts, "mode": "standard"},
            ),
        )

    def describe(self, key: str = "") -> str:
        return object_source(self.bucket, key)

    def list_objects(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[ObjectInfo]:
        """Every object under `prefix`, one request per `page_size` keys."""
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}
        )
        with self._errors(self.describe(prefix)):
            for page in pages:
                served = _served_at(page)
                for item in page.get("Contents", ()):
                    yield ObjectInfo(
                        key=item["Key"],
                        etag=normalise_etag(item.get("ETag")) or "",
                        size=int(item.get("Size", 0)),
                        last_modified=item.get("LastModified"),
                        listed_at=served,
                    )

    def head(self, key: str) -> ObjectInfo:
        with self._errors(self.describe(key)):
            response = self._client.head_object(Bucket=self.bucket, Key=key)
        return ObjectInfo(
            key=key,
            etag=normalise_etag(response.get("ETag")) or "",
            size=int(response.get("ContentLength", 0)),
            last_modified=response.get("LastModified"),
            version_id=response.get("VersionId"),
            metadata={str(k).lower(): str(v) for k, v in (response.get("Metadata") or {}).items()},
        )

    def download(self, key: str, dest_path: Path, *, etag: str | None = None) -> str:
        """Stream the object to `dest_path`; returns the ETag of what was written.

        With `etag`, the download fails (transiently) unless the object still has that ETag,
        so the file never mixes two uploads and always matches the ETag we report.
        """
        dest_path = Path(dest_path)
        partial = dest_path.with_name(dest_path.name + ".part")
        extra = {"IfMatch": f'"{etag}"'} if etag else {}
        try:
            with self._errors(self.describe(key)):
                response = self._client.get_object(Bucket=self.bucket, Key=key, **extra)
                with partial.open("wb") as out:
                    for chunk in response["Body"].iter_chunks(CHUNK_BYTES):
                        out.write(chunk)
            os.replace(partial, dest_path)
        finally:
            partial.unlink(missing_ok=True)
        return normalise_etag(response.get("ETag")) or ""

    def _errors(self, what: str):
        return _S3Errors(what)


def _served_at(response: dict) -> datetime | None:
    """The response's Date header (the store's clock, whole seconds), or None."""
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        return parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        return None


class _S3Errors:
    """Maps boto3/botocore/urllib3 exceptions to our transient/terminal split."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            return False
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            message = f"{self.what}: {code or status} {error.get('Message', '')}".strip()
            if code in NOT_FOUND_CODES or status == "404":
                raise ObjectNotFound(f"not found: {message}") from exc
            if code in TRANSIENT_CODES or status in TRANSIENT_CODES:
                raise TransientError(f"S3 unavailable: {message}") from exc
            raise TerminalError(f"S3 refused: {message}") from exc
        reason = one_line(exc)
        if isinstance(exc, NETWORK_ERRORS) or _is_urllib3_error(exc):
            # connection refused/reset, timeouts, a body cut short: the network, not the object
            raise TransientError(f"S3 unreachable ({self.what}): {reason}") from exc
        if isinstance(exc, BotoCoreError):  # no credentials, invalid parameters, ...
            raise TerminalError(f"S3 client error ({self.what}): {reason}") from exc
        return False


def _is_urllib3_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("urllib3")
