"""Server-side calls to the object store (MINIO_ADMIN_ENDPOINT): head, list, delete, and the
readiness check. boto3, SigV4, path-style addressing: plain S3 on MinIO, Ceph, Garage, AWS.
Blocking; call from worker threads."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..core.config import Settings
from ..core.errors import BadRequest, ServiceUnavailable

log = logging.getLogger(__name__)

_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    last_modified: datetime | None


@dataclass(frozen=True)
class ObjectPage:
    objects: list[StoredObject]
    next_token: str | None


class ObjectStore:
    def __init__(self, settings: Settings):
        access_key, secret_key = settings.s3_credentials()
        self.bucket = settings.minio_bucket
        self._client = boto3.client(
            "s3",
            endpoint_url=settings.s3_admin_endpoint(),
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=settings.minio_region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=settings.s3_timeout_s,
                read_timeout=settings.s3_timeout_s,
                retries={"max_attempts": 2, "mode": "standard"},
                max_pool_connections=32,
            ),
        )

    def _unavailable(self, action: str, exc: Exception) -> ServiceUnavailable:
        log.error("object store %s failed: %s", action, type(exc).__name__)
        return ServiceUnavailable("the object store is unavailable; try again later")

    def head(self, key: str) -> StoredObject | None:
        try:
            answer = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise self._unavailable("head", exc) from None
        except BotoCoreError as exc:
            raise self._unavailable("head", exc) from None
        return StoredObject(key, answer.get("ContentLength", 0), answer.get("LastModified"))

    def list_page(self, prefix: str, max_keys: int, continuation: str | None) -> ObjectPage:
        params = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if continuation:
            params["ContinuationToken"] = continuation
        try:
            answer = self._client.list_objects_v2(**params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidArgument":
                raise BadRequest("continuation_token is no longer valid") from None
            raise self._unavailable("list", exc) from None
        except BotoCoreError as exc:
            raise self._unavailable("list", exc) from None
        objects = [
            StoredObject(item["Key"], item.get("Size", 0), item.get("LastModified"))
            for item in answer.get("Contents", [])
            if item["Key"].startswith(prefix)
        ]
        next_token = answer.get("NextContinuationToken") if answer.get("IsTruncated") else None
        return ObjectPage(objects, next_token)

    def usage(self, prefix: str, max_objects: int) -> tuple[int, int]:
        """(objects, bytes) under `prefix`; counting stops once past `max_objects`."""
        objects = size = 0
        token = None
        while True:
            page = self.list_page(prefix, 1000, token)
            objects += len(page.objects)
            size += sum(item.size for item in page.objects)
            token = page.next_token
            if token is None or objects > max_objects:
                return objects, size

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise self._unavailable("delete", exc) from None

    def bucket_exists(self) -> bool:
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return True
        except (ClientError, BotoCoreError) as exc:
            log.warning("bucket check failed: %s", type(exc).__name__)
            return False
