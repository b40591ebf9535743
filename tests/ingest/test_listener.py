"""The listener as a real process on a real database (no worker: jobs stay queued)."""

from __future__ import annotations

import json
import socket
import urllib.parse
import uuid

import httpx
import pytest

from analysis_module.connectors.queue import ANALYSE_TASK, REMOVE_TASK
from tests.ingest.conftest import listener_process, running, service_env
from tests.ingest.support import (
    TOKEN,
    events_of,
    fetch_all,
    jobs_of,
    minio_event,
    object_row,
    sample,
)
from tests.support.servers import PythonProcess


@pytest.fixture(scope="module")
def listener(module_db, s3_endpoint, module_bucket):
    env = service_env(module_db, s3_endpoint, module_bucket)
    with running(listener_process(env)) as process:
        yield process


@pytest.fixture
def key() -> str:
    return f"user-7f3c2a/runs 2026/job {uuid.uuid4().hex[:8]}.h5"


def event_count(db) -> int:
    return fetch_all(db, "SELECT count(*) FROM ingest_events")[0][0]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": TOKEN},  # the token without MinIO's scheme
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"bearer {TOKEN}"},
    ],
    ids=["missing", "forged", "no-scheme", "longer", "other-case"],
)
def test_without_the_token_nothing_is_recorded(
    listener, module_db, module_bucket, key, post_event, headers
):
    before = event_count(module_db)
    body = minio_event(module_bucket, key, etag="e" * 32, size=10)
    response = post_event(listener.base_url, body, headers=headers or {"X-Nothing": "1"})
    assert response.status_code == 401
    assert event_count(module_db) == before
    assert object_row(module_db, module_bucket, key) is None


def test_put_event_is_recorded_and_its_analysis_queued(
    listener, module_db, module_bucket, key, post_event
):
    response = post_event(listener.base_url, minio_event(module_bucket, key, etag="a" * 32, size=5))
    assert response.status_code == 200
    assert response.json()["recorded"] == [
        {"disposition": "accepted", "key": key, "reason": "new object"}
    ]
    row = object_row(module_db, module_bucket, key)
    assert row["status"] == "queued"
    assert row["source"] == f"s3://{module_bucket}/{key}"
    assert row["owner"] == "user-7f3c2a"
    assert (row["etag"], row["size_bytes"], row["attempts"]) == ("a" * 32, 5, 0)
    assert row["queued_at"] is not None
    assert jobs_of(module_db, row["source"]) == [(ANALYSE_TASK, "todo", 0)]


def test_the_alias_path_works_too(listener, module_db, module_bucket, key, post_event):
    body = minio_event(module_bucket, key, etag="b" * 32, size=5)
    assert post_event(listener.base_url, body, path="/minio").status_code == 200
    assert object_row(module_db, module_bucket, key)["status"] == "queued"


def test_three_deliveries_of_one_event_queue_one_job(
    listener, module_db, module_bucket, key, post_event
):
    body = minio_event(module_bucket, key, etag="c" * 32, size=5)
    answers = [post_event(listener.base_url, body).json() for _ in range(3)]
    assert [a["recorded"][0]["disposition"] for a in answers] == [
        "accepted",
        "duplicate",
        "duplicate",
    ]
    assert events_of(module_db, module_bucket, key) == ["accepted", "duplicate", "duplicate"]
    assert len(jobs_of(module_db, f"s3://{module_bucket}/{key}")) == 1


def test_new_upload_of_the_same_key_supersedes_the_queued_one(
    listener, module_db, module_bucket, key, post_event
):
    post_event(listener.base_url, minio_event(module_bucket, key, etag="d" * 32, size=5))
    response = post_event(listener.base_url, minio_event(module_bucket, key, etag="f" * 32, size=7))
    assert response.json()["recorded"][0]["reason"] == "new content supersedes the previous upload"
    row = object_row(module_db, module_bucket, key)
    assert (row["status"], row["etag"], row["size_bytes"]) == ("queued", "f" * 32, 7)
    # the older job will find the newer content; the per-object lock keeps them apart
    assert len(jobs_of(module_db, row["source"])) == 2


def test_url_encoded_key_arrives_as_the_right_object(listener, module_db, post_event):
    body = sample("put_encoded_key.json")
    assert post_event(listener.base_url, body).status_code == 200
    row = object_row(module_db, "benchmarks", "user-7f3c2a/runs 2026/job_5 (rerun).h5")
    # the sample's bucket is not the watched one: recorded, with its decoded key, and ignored
    assert row is None
    [(key, disposition, reason)] = fetch_all(
        module_db,
        "SELECT key, disposition, reason FROM ingest_events WHERE bucket = 'benchmarks'"
        " AND etag = '3c1f0b9d5a7e2e4f6a8b9c0d1e2f3a4b'",
    )
    assert key == "user-7f3c2a/runs 2026/job_5 (rerun).h5"
    assert (disposition, reason) == ("ignored", "bucket 'benchmarks' is not the watched bucket")


@pytest.mark.parametrize(
    ("sample_name", "reason"),
    [
        ("put_not_h5_ignore.json", "not an .h5 object"),
        ("put_tagging_ignore.json", "s3:ObjectCreated:PutTagging does not change content"),
    ],
)
def test_other_authentic_events_are_acknowledged_and_recorded_as_ignored(
    listener, module_db, module_bucket, post_event, sample_name, reason
):
    body = json.loads(json.dumps(sample(sample_name)).replace("benchmarks", module_bucket))
    response = post_event(listener.base_url, body)
    assert response.status_code == 200
    assert response.json()["recorded"][0] == {
        "disposition": "ignored",
        "key": body["Key"].split("/", 1)[1],
        "reason": reason,
    }


def test_malformed_json_with_a_valid_token_is_acknowledged_and_rejected(
    listener, module_db, post_event
):
    marker = uuid.uuid4().hex
    response = post_event(listener.base_url, f'{{"Records": [{{"marker": "{marker}"')
    assert response.status_code == 200
    [(disposition, reason)] = fetch_all(
        module_db,
        "SELECT disposition, reason FROM ingest_events WHERE payload->>'unparsed' LIKE %s",
        f"%{marker}%",
    )
    assert disposition == "rejected"
    assert reason.startswith("body is not valid JSON")


def test_record_without_a_key_is_rejected_with_its_reason(listener, module_db, post_event):
    body = sample("put_job.json")
    del body["Records"][0]["s3"]["object"]["key"]
    body["Records"][0]["eventTime"] = marker = uuid.uuid4().hex
    assert post_event(listener.base_url, body).json()["recorded"][0] == {
        "disposition": "rejected",
        "key": None,
        "reason": "record has no 's3.object.key'",
    }
    [(reason,)] = fetch_all(
        module_db,
        "SELECT reason FROM ingest_events WHERE payload->'Records'->0->>'eventTime' = %s",
        marker,
    )
    assert reason == "record has no 's3.object.key'"


def test_removal_marks_the_object_removed_and_queues_the_results_removal(
    listener, module_db, module_bucket, key, post_event
):
    post_event(listener.base_url, minio_event(module_bucket, key, etag="e" * 32, size=5))
    removal = minio_event(module_bucket, key, event_name="s3:ObjectRemoved:Delete")
    assert post_event(listener.base_url, removal).json()["recorded"][0]["disposition"] == "removed"
    row = object_row(module_db, module_bucket, key)
    assert row["status"] == "removed"
    assert [task for task, _, _ in jobs_of(module_db, row["source"])] == [ANALYSE_TASK, REMOVE_TASK]


def test_probes_and_metrics(listener, module_db, module_bucket, key, post_event):
    assert httpx.get(listener.base_url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(listener.base_url + "/readyz").json() == {"status": "ready"}
    assert httpx.head(listener.base_url + "/minio-event").status_code == 200  # MinIO's probe
    post_event(listener.base_url, minio_event(module_bucket, key, etag="9" * 32, size=5))
    post_event(listener.base_url, b"not json")
    post_event(listener.base_url, b"{}", headers={"Authorization": "Bearer nope"})
    text = httpx.get(listener.base_url + "/metrics").text
    assert 'ingest_webhook_records_total{disposition="accepted"}' in text
    assert 'ingest_webhook_records_total{disposition="rejected"}' in text
    assert 'ingest_webhook_requests_total{outcome="unauthorized"}' in text
    assert "ingest_webhook_record_seconds_bucket" in text


@pytest.mark.parametrize("app_env", ["production", None])
def test_refuses_to_start_without_a_token_outside_development(
    module_db, s3_endpoint, app_env, monkeypatch
):
    env = service_env(
        module_db, s3_endpoint, "any-bucket", APP_ENV=app_env or "", MINIO_WEBHOOK_AUTH_TOKEN=""
    )
    if app_env is None:  # development by omission is not enough for a network-facing webhook
        del env["APP_ENV"]
        monkeypatch.delenv("APP_ENV", raising=False)
    process = listener_process(env)
    PythonProcess.start(process)  # not AppProcess.start: we expect it never to answer
    try:
        assert process.proc.wait(timeout=30) != 0
        assert "MINIO_WEBHOOK_AUTH_TOKEN is empty or a placeholder" in process.output()
    finally:
        process.stop()


def hostile_bodies(marker: str) -> dict[str, bytes]:
    """Authentic requests with bodies PostgreSQL could not store as they are."""
    record = sample("put_job.json")
    record["Records"][0]["eventTime"] = marker
    plain = json.dumps(record)
    escaped_nul_key = plain.replace('"key": "', '"key": "%00', 1)
    assert escaped_nul_key != plain
    return {
        "nul-byte": plain.replace(marker, marker + "\x00").encode(),
        "escaped-nul": plain.replace(marker, marker + "\\u0000").encode(),
        "percent-00-in-key": escaped_nul_key.encode(),
        "nan": plain.replace('"size": ', '"size": NaN, "x": ', 1).encode(),
        "infinite": plain.replace('"size": ', '"size": 1e999, "x": ', 1).encode(),
        "lone-surrogate": plain.replace(marker, marker + "\\ud800").encode(),
        "invalid-utf8": plain.encode().replace(marker.encode(), marker.encode() + b"\xff\xfe"),
        "deep-nesting": ("[" * 1000 + json.dumps(marker) + "]" * 1000).encode(),
        "not-an-object": json.dumps([marker]).encode(),
    }


HOSTILE = [
    "nul-byte",
    "escaped-nul",
    "percent-00-in-key",
    "nan",
    "infinite",
    "lone-surrogate",
    "invalid-utf8",
    "deep-nesting",
    "not-an-object",
]


@pytest.mark.parametrize("kind", HOSTILE)
def test_malformed_authentic_body_is_acknowledged_and_recorded_as_rejected(
    listener, module_db, post_event, kind
):
    marker = uuid.uuid4().hex
    before = event_count(module_db)
    response = post_event(listener.base_url, hostile_bodies(marker)[kind])
    assert response.status_code == 200, response.text
    [recorded] = response.json()["recorded"]
    assert recorded["disposition"] == "rejected" and recorded["reason"]
    rows = fetch_all(
        module_db, "SELECT disposition, reason FROM ingest_events ORDER BY id DESC LIMIT 1"
    )
    assert event_count(module_db) == before + 1
    assert rows == [("rejected", recorded["reason"])]


def raw_request(base_url: str, head: str, chunks) -> bytes:
    """Send `head` and then the chunks on a raw socket; return what the server answered."""
    url = urllib.parse.urlsplit(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=20) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the server answered and closed before we sent everything
        answer = b""
        while data := sock.recv(65536):
            answer += data
            if b"\r\n\r\n" in answer:
                break
    return answer


def test_body_over_the_cap_is_refused_without_reading_the_rest(listener, module_db):
    before = event_count(module_db)
    chunk = b"x" * 65536
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    # 2 MiB sent, never terminated: the answer must come without the body's end
    head = (
        "POST /minio-event HTTP/1.1\r\nHost: listener\r\n"
        f"Authorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    answer = raw_request(listener.base_url, head, [framed] * 32)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert event_count(module_db) == before + 1
    [(reason,)] = fetch_all(module_db, "SELECT reason FROM ingest_events ORDER BY id DESC LIMIT 1")
    assert reason == "body is larger than 1048576 bytes"


def test_declared_length_over_the_cap_is_refused_at_once(listener, module_db):
    head = (
        "POST /minio-event HTTP/1.1\r\nHost: listener\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Length: {300 * 1024 * 1024}\r\n\r\n"
    )
    answer = raw_request(listener.base_url, head, [b"{" * 1024])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_unauthenticated_hostile_body_gets_401_and_nothing_is_recorded(
    listener, module_db, post_event
):
    before = event_count(module_db)
    body = hostile_bodies(uuid.uuid4().hex)["deep-nesting"]
    response = post_event(listener.base_url, body, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert event_count(module_db) == before
