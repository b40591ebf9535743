"""A benchmark named on upload travels with the object as signed metadata, on the S3 gateway."""

from __future__ import annotations

import httpx
import pytest

from .sigv4_check import decode_policy

HEADER = "x-amz-meta-benchmark-name"


def test_presigned_put_carries_the_benchmark_and_the_store_holds_it_to_it(
    client, account, s3_endpoint, api_bucket
):
    answer = client.post(
        "/storage/presign/upload",
        params={"object_name": "run1/5_0_n1.h5"},
        json={"benchmark_name": "hpl-2026.1"},
        headers=account.headers,
    )
    assert answer.status_code == 200, answer.text
    presigned = answer.json()
    assert presigned["headers"] == {HEADER: "hpl-2026.1"}
    assert "Deprecation" not in answer.headers

    # signed: none, or another name, is refused by the store
    assert httpx.put(presigned["url"], content=b"h5").status_code == 403
    other = {HEADER: "stream"}
    assert httpx.put(presigned["url"], content=b"h5", headers=other).status_code == 403
    put = httpx.put(presigned["url"], content=b"h5", headers=presigned["headers"])
    assert put.status_code == 200, put.text
    head = s3_endpoint.client().head_object(Bucket=api_bucket, Key=presigned["key"])
    assert head["Metadata"] == {"benchmark-name": "hpl-2026.1"}


@pytest.mark.parametrize(
    ("field", "value", "header", "other"),
    [
        ("benchmark_name", "stream_v2", HEADER, "other"),
        ("work", "GB/s=180", "x-amz-meta-work", "GB/s=999"),
    ],
)
def test_post_policy_pins_the_field(
    client, account, s3_endpoint, api_bucket, field, value, header, other
):
    """A benchmark name or a figure of merit: the policy pins it, the store holds the upload
    to it, and the object carries it (and nothing it was not given)."""
    answer = client.post(
        "/storage/presign/post",
        params={"object_name": "run2/job_7.h5"},
        json={field: value},
        headers=account.headers,
    )
    assert answer.status_code == 200, answer.text
    fields = answer.json()["fields"]
    assert fields[header] == value
    assert not ({HEADER, "x-amz-meta-work"} - {header}) & set(fields)
    assert {header: value} in decode_policy(fields)["conditions"]
    url = answer.json()["url"]

    changed = httpx.post(url, data={**fields, header: other}, files={"file": ("f", b"abc")})
    assert changed.status_code == 403, changed.text
    posted = httpx.post(url, data=fields, files={"file": ("f", b"abc")})
    assert posted.status_code in (200, 204), posted.text
    head = s3_endpoint.client().head_object(Bucket=api_bucket, Key=fields["key"])
    assert head["Metadata"] == {header.removeprefix("x-amz-meta-"): value}


def test_without_a_body_nothing_extra_is_signed(client, account):
    for path in ("/storage/presign/upload", "/storage/presign/post"):
        answer = client.post(path, params={"object_name": "plain.h5"}, headers=account.headers)
        assert answer.status_code == 200, answer.text
        assert HEADER not in answer.json().get("headers", answer.json().get("fields"))
    null = client.post(
        "/storage/presign/upload",
        params={"object_name": "plain.h5"},
        json={"benchmark_name": None},
        headers=account.headers,
    )
    assert null.status_code == 200 and null.json()["headers"] == {}


@pytest.mark.parametrize("path", ["/storage/presign/upload", "/storage/presign/post"])
@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"benchmark_name": "a b/../c"}, 400, "benchmark_name must be 1-128 characters"),
        ({"benchmark_name": "x" * 129}, 400, "benchmark_name must be 1-128 characters"),
        ({"benchmark_name": ""}, 400, "benchmark_name must be 1-128 characters"),
        ({"benchmark_name": 5}, 400, "benchmark_name must be 1-128 characters"),
        ({"benchmark": "hpl"}, 400, "may hold only benchmark_name"),
        (["hpl"], 400, "may hold only benchmark_name"),
    ],
)
def test_a_bad_benchmark_is_one_clear_line(client, account, path, body, status, says):
    answer = client.post(path, params={"object_name": "x.h5"}, json=body, headers=account.headers)
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and says in detail


def test_options_must_be_json(client, account):
    answer = client.post(
        "/storage/presign/upload",
        params={"object_name": "x.h5"},
        content=b"benchmark_name=hpl",
        headers={**account.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 415 and "application/json" in answer.json()["detail"]
