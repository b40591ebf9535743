"""moto's standalone S3 server on a loopback port (the benchmarks' store; tests use Ceph RGW,
`tests/support/rgw.py`, which checks signatures, expiry and policies)."""

from __future__ import annotations

from moto.server import ThreadedMotoServer

from .net import free_port
from .s3_endpoint import ACCESS_KEY, REGION, SECRET_KEY, S3Endpoint

__all__ = ["ACCESS_KEY", "REGION", "SECRET_KEY", "S3Endpoint", "start"]


def start() -> S3Endpoint:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return S3Endpoint(url=f"http://127.0.0.1:{port}", server=server)
