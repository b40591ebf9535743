"""Ceph RADOS Gateway notifications: the gateway's own shape and authentication, and an upload
to the gateway whose topic pushes to our listener ending in an analysed job."""

from __future__ import annotations

import base64
import copy
import json
import uuid

import pytest

from analysis_module.ingest.ceph_events import is_authentic
from analysis_module.ingest.events import ObjectEvent, parse_notification
from tests.ingest.conftest import listener_process, running, service_env, worker_process
from tests.ingest.support import (
    TOKEN,
    events_of,
    fetch_all,
    jobs_of,
    object_row,
    profile_bytes,
    summary_row,
    upload,
    wait_until,
)

CEPH_PATH = "/ceph-event"


def ceph_event(bucket: str, key: str, etag: str, size: int, opaque: str | None = TOKEN) -> dict:
    """One record as radosgw 16.2 sends it: plain key, no `s3:` prefix, metadata as pairs."""
    record = {
        "eventVersion": "2.2",
        "eventSource": "ceph:s3",
        "awsRegion": "",
        "eventTime": "2026-01-15T10:00:00.000000Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "tests"},
        "requestParameters": {"sourceIPAddress": ""},
        "responseElements": {"x-amz-request-id": "req-1", "x-amz-id-2": "id-1"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "created",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "tests"}},
            "object": {
                "key": key,
                "size": size,
                "eTag": etag,
                "versionId": "",
                "sequencer": "0E130F6B3DAA2721",
                "metadata": [{"key": "x-amz-meta-owner", "val": "u1"}],
                "tags": [],
            },
        },
        "eventId": f"1.2.{etag}",
    }
    if opaque is not None:
        record["opaqueData"] = opaque
    return {"Records": [record]}


def basic(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def test_the_gateways_shape_parses_to_the_object_it_names():
    key = "user-7f3c2a/runs 2026/a+b%20c.h5"  # plain: '+' and '%20' are part of the name
    notification = parse_notification(json.dumps(ceph_event("bkt", key, "e" * 32, 9)).encode())
    [event] = notification.records
    assert isinstance(event, ObjectEvent)
    assert (event.event_name, event.bucket, event.key) == ("s3:ObjectCreated:Put", "bkt", key)
    assert (event.etag, event.size_bytes, event.version_id) == ("e" * 32, 9, None)


@pytest.mark.parametrize(
    ("headers", "opaque", "authentic"),
    [
        ({}, TOKEN, True),
        ({}, TOKEN + "x", False),
        ({}, None, False),
        (basic("ceph", TOKEN), None, True),
        (basic("any-user", TOKEN), "wrong", True),
        (basic("ceph", "wrong"), None, False),
        ({"Authorization": f"Bearer {TOKEN}"}, None, False),
        ({"Authorization": "Basic not-base64!"}, None, False),
    ],
)
def test_authentic_by_opaque_data_or_basic_password(headers, opaque, authentic):
    body = ceph_event("b", "k.h5", "e" * 32, 1, opaque)
    assert is_authentic(headers.get("Authorization", ""), body, TOKEN) is authentic


@pytest.fixture(scope="module")
def listener(module_db, s3_endpoint, module_bucket):
    env = service_env(module_db, s3_endpoint, module_bucket)
    with running(listener_process(env)) as process:
        yield process


def new_key(name: str = "job_4.h5") -> str:
    return f"user-7f3c2a/runs {uuid.uuid4().hex[:8]}/a+b {name}"


def test_forged_or_missing_token_records_nothing(listener, module_db, module_bucket, post_event):
    key = new_key()
    before = fetch_all(module_db, "SELECT count(*) FROM ingest_events")[0][0]
    for body, headers in (
        (ceph_event(module_bucket, key, "a" * 32, 5, opaque="wrong"), {"X-No": "1"}),
        (ceph_event(module_bucket, key, "a" * 32, 5, opaque=None), basic("ceph", "wrong")),
        (b"not json", {"X-No": "1"}),
    ):
        answer = post_event(listener.base_url, body, headers=headers, path=CEPH_PATH)
        assert answer.status_code == 401
    assert fetch_all(module_db, "SELECT count(*) FROM ingest_events")[0][0] == before


def test_authentic_event_is_recorded_once_and_its_secret_is_not(
    listener, module_db, module_bucket, post_event
):
    key = new_key()
    body = ceph_event(module_bucket, key, "c" * 32, 5)
    answers = [
        post_event(listener.base_url, copy.deepcopy(body), headers={"X-No": "1"}, path=CEPH_PATH)
        for _ in range(2)
    ]
    assert [a.json()["recorded"][0]["disposition"] for a in answers] == ["accepted", "duplicate"]
    row = object_row(module_db, module_bucket, key)
    assert (row["status"], row["owner"], row["etag"]) == ("queued", "user-7f3c2a", "c" * 32)
    assert len(jobs_of(module_db, row["source"])) == 1
    payloads = fetch_all(module_db, "SELECT payload::text FROM ingest_events WHERE key = %s", key)
    assert payloads and all(TOKEN not in payload for (payload,) in payloads)


def test_basic_auth_and_the_allow_list_apply(listener, module_db, module_bucket, post_event):
    other_bucket = ceph_event("not-watched", new_key(), "d" * 32, 5, opaque=None)
    answer = post_event(
        listener.base_url, other_bucket, headers=basic("ceph", TOKEN), path=CEPH_PATH
    )
    assert answer.status_code == 200
    assert answer.json()["recorded"][0]["disposition"] == "ignored"
    text = ceph_event(module_bucket, "user-7f3c2a/notes.txt", "d" * 32, 5, opaque=None)
    answer = post_event(listener.base_url, text, headers=basic("ceph", TOKEN), path=CEPH_PATH)
    assert answer.json()["recorded"][0]["reason"] == "not an .h5 object"


@pytest.fixture(scope="module")
def services(module_db, s3_endpoint):
    bucket = s3_endpoint.new_bucket("notify")
    env = service_env(module_db, s3_endpoint, bucket)
    with running(listener_process(env)) as listener, running(worker_process(env)):
        yield listener, bucket


def test_upload_to_the_gateway_ends_in_an_analysed_job(services, s3_endpoint, module_db):
    # The topic's secret rides in OpaqueData: radosgw 16.2 takes a push endpoint with
    # user:password only when CreateTopic itself comes over HTTPS, which these tests don't
    # set up; Basic auth is checked with direct requests above.
    listener, bucket = services
    s3_endpoint.notify(bucket, listener.base_url + CEPH_PATH, opaque_data=TOKEN)
    key = new_key("job_5.h5")
    etag = upload(s3_endpoint.client(), bucket, key, profile_bytes("job_5.h5"))

    source = f"s3://{bucket}/{key}"
    summary = wait_until(lambda: summary_row(module_db, source), what="the analysis")
    assert (summary["status"], summary["source_etag"], summary["owner"]) == (
        "ok",
        etag,
        "user-7f3c2a",
    )
    assert events_of(module_db, bucket, key) == ["accepted"]
