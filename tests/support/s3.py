"""moto's standalone S3 server on a loopback port: a real HTTP S3 endpoint for tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from .net import free_port

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key-0123456789abcdef"
REGION = "us-east-1"


@dataclass
class S3Endpoint:
    url: str
    server: ThreadedMotoServer

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
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
        }


def start() -> S3Endpoint:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return S3Endpoint(url=f"http://127.0.0.1:{port}", server=server)
