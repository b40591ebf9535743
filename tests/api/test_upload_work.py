"""A figure of merit given on upload travels with the object as signed metadata
(`x-amz-meta-work`), on the S3 gateway, like the benchmark's name."""

from __future__ import annotations

import httpx
import pytest

HEADER = "x-amz-meta-work"
BENCHMARK = "x-amz-meta-benchmark-name"


def test_presigned_put_carries_the_work_and_the_store_holds_it_to_it(
    client, account, s3_endpoint, api_bucket
):
    answer = client.post(
        "/storage/presign/upload",
        params={"object_name": "hpl/5_0_n1.h5"},
        json={"benchmark_name": "hpl", "work": "GFLOP/s=1234.5"},
        headers=account.headers,
    )
    assert answer.status_code == 200, answer.text
    presigned = answer.json()
    assert presigned["headers"] == {BENCHMARK: "hpl", HEADER: "GFLOP/s=1234.5"}

    url = presigned["url"]
    without = {BENCHMARK: "hpl"}
    assert httpx.put(url, content=b"h5", headers=without).status_code == 403
    other = {**presigned["headers"], HEADER: "GFLOP/s=99999"}
    assert httpx.put(url, content=b"h5", headers=other).status_code == 403
    put = httpx.put(url, content=b"h5", headers=presigned["headers"])
    assert put.status_code == 200, put.text
    head = s3_endpoint.client().head_object(Bucket=api_bucket, Key=presigned["key"])
    assert head["Metadata"] == {"benchmark-name": "hpl", "work": "GFLOP/s=1234.5"}


def test_the_work_is_signed_without_spaces_around_unit_and_value(client, account):
    answer = client.post(
        "/storage/presign/upload",
        params={"object_name": "stream/job_9.h5"},
        json={"work": " GB/s = 180 "},
        headers=account.headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["headers"] == {HEADER: "GB/s=180"}


def test_a_null_work_signs_nothing(client, account):
    answer = client.post(
        "/storage/presign/upload",
        params={"object_name": "plain.h5"},
        json={"benchmark_name": None, "work": None},
        headers=account.headers,
    )
    assert answer.status_code == 200 and answer.json()["headers"] == {}


@pytest.mark.parametrize("path", ["/storage/presign/upload", "/storage/presign/post"])
@pytest.mark.parametrize(
    ("work", "says"),
    [
        ("GFLOP/s", "work 'GFLOP/s' is not UNIT=VALUE (for example GFLOP/s=1234 or GB/s=180)"),
        ("=12", "is not UNIT=VALUE"),
        ("9x=12", "is not UNIT=VALUE"),
        ("GFLOP/s=fast", "work GFLOP/s: 'fast' is not a number"),
        ("GFLOP/s=-1", "work GFLOP/s: the value must be a finite number >= 0"),
        ("GFLOP/s=inf", "the value must be a finite number >= 0"),
        ("GFLOP/s=12\n", "work must be at most 128 printable ASCII characters"),
        ("GFLOP/s=١٢", "work must be at most 128 printable ASCII characters"),
        ("GFLOP/s=" + "1" * 121, "work must be at most 128 printable ASCII characters"),
        (1234, "work must be a string UNIT=VALUE"),
    ],
)
def test_a_bad_work_is_one_clear_line(client, account, path, work, says):
    answer = client.post(
        path, params={"object_name": "x.h5"}, json={"work": work}, headers=account.headers
    )
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["code"] == "invalid_work"
    assert isinstance(body["detail"], str) and "\n" not in body["detail"]
    assert says in body["detail"]


def test_the_body_names_its_fields_when_it_holds_another(client, account):
    answer = client.post(
        "/storage/presign/upload",
        params={"object_name": "x.h5"},
        json={"work": "GFLOP/s=1", "fom": "1"},
        headers=account.headers,
    )
    assert answer.status_code == 400
    assert "may hold only benchmark_name and work" in answer.json()["detail"]


def test_the_routes_document_the_work_field(client):
    spec = client.get("/openapi.json").json()
    for path in ("/storage/presign/upload", "/storage/presign/post"):
        operation = spec["paths"][path]["post"]
        assert "x-amz-meta-work" in operation["description"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert "x-amz-meta-work" in schema["properties"]["work"]["description"]
    assert "422" in spec["paths"]["/storage/presign/upload"]["post"]["responses"]
