"""What a test sees of an S3 server on loopback, whichever server it is (Ceph RGW or moto)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

import boto3
from botocore.config import Config

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key-0123456789abcdef"
REGION = "us-east-1"


@dataclass
class S3Endpoint:
    """A client, fresh buckets, and the MINIO_* variables our services read."""

    url: str
    server: Any  # the running server; its `stop()` ends it
    extra_env: ClassVar[dict[str, str]] = {}

    def _session_args(self) -> dict[str, str]:
        return {
            "endpoint_url": self.url,
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
            "region_name": REGION,
        }

    def client(self):
        return boto3.client(
            "s3",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
            **self._session_args(),
        )

    def new_bucket(self, prefix: str = "bench") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.client().create_bucket(Bucket=name)
        return name

    def env(self, bucket: str) -> dict[str, str]:
        """The MINIO_* variables our services read, pointing at this endpoint."""
        return {
            "MINIO_ENDPOINT": self.url,
            "MINIO_ADMIN_ENDPOINT": self.url,
            "MINIO_PUBLIC_ENDPOINT": self.url,
            "MINIO_ACCESS_KEY": ACCESS_KEY,
            "MINIO_SECRET_KEY": SECRET_KEY,
            "MINIO_REGION": REGION,
            "MINIO_BUCKET": bucket,
            **self.extra_env,
        }
