"""The API's own SigV4 presigner signs exactly as botocore, the reference implementation."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from api_backend.storage.sigv4 import Presigner

ENDPOINT = "https://objects.example.org:9443"
REGION = "eu-central-1"
ACCESS, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def botocore_url(method: str, path: str, headers: dict[str, str], expires_s: int) -> str:
    request = AWSRequest(method=method, url=ENDPOINT + path, headers=headers)
    S3SigV4QueryAuth(Credentials(ACCESS, SECRET), "s3", REGION, expires=expires_s).add_auth(request)
    return request.url


@pytest.mark.parametrize(
    ("method", "key", "headers"),
    [
        ("GET", "user-7f3c2a/runs 2026/job_5 (rerun).h5", {}),
        ("PUT", "user-7f3c2a/é/ü+x=y,z@h.h5", {"Content-Type": "application/x-hdf5"}),
    ],
)
def test_presigned_urls_match_botocore(method, key, headers):
    presigner = Presigner(ENDPOINT, REGION, ACCESS, SECRET)
    for _ in range(3):  # both sign "now": retry if the second changed in between
        now = datetime.now(UTC).replace(microsecond=0)
        ours = presigner.presign_url(method, "benchmarks", key, 300, headers=headers, now=now)
        reference = botocore_url(method, presigner.object_path("benchmarks", key), headers, 300)
        reference_date = dict(parse_qsl(urlsplit(reference).query))["X-Amz-Date"]
        if reference_date == now.strftime("%Y%m%dT%H%M%SZ"):
            break
    assert urlsplit(ours).path == urlsplit(reference).path
    assert dict(parse_qsl(urlsplit(ours).query)) == dict(parse_qsl(urlsplit(reference).query))
