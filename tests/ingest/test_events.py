"""Parsing MinIO's notification bodies: the samples as MinIO sends them, and bad input."""

from __future__ import annotations

import json
import urllib.parse

from hypothesis import given
from hypothesis import strategies as st

from analysis_module.ingest.events import (
    EventKind,
    ObjectEvent,
    RejectedRecord,
    is_profile_key,
    owner_of,
    parse_notification,
)
from analysis_module.pipeline_core.identity import normalise_etag, object_source
from tests.ingest.support import SAMPLES


def parse_sample(name: str):
    notification = parse_notification((SAMPLES / name).read_bytes())
    assert len(notification.records) == 1
    return notification.records[0]


def test_put_event_names_the_decoded_object_and_its_etag():
    event = parse_sample("put_job.json")
    assert isinstance(event, ObjectEvent)
    assert event.kind is EventKind.CREATED
    assert (event.bucket, event.key) == ("benchmarks", "user-7f3c2a/job_4.h5")
    assert event.etag == "9b2cf535f27731c974343645a3985328"
    assert event.size_bytes == 16176


def test_escaped_key_with_spaces_slashes_and_parentheses_is_decoded():
    event = parse_sample("put_encoded_key.json")
    assert event.key == "user-7f3c2a/runs 2026/job_5 (rerun).h5"


def test_multipart_upload_is_new_content_with_its_multipart_etag():
    event = parse_sample("multipart_job.json")
    assert event.kind is EventKind.CREATED
    assert event.etag == "5b1d1e7c0a6f4e2b9d8c7b6a5f4e3d2c-14"


def test_delete_is_a_removal_without_etag():
    event = parse_sample("delete_job.json")
    assert event.kind is EventKind.REMOVED
    assert event.key == "user-7f3c2a/job_4.h5"
    assert event.etag is None


def test_tagging_is_not_new_content():
    assert parse_sample("put_tagging_ignore.json").kind is EventKind.OTHER


def test_body_that_is_not_json_is_rejected_with_a_reason_and_a_preview():
    notification = parse_notification(b'{"EventName": "s3:ObjectCreated:Put", "Records": [')
    [record] = notification.records
    assert isinstance(record, RejectedRecord)
    assert record.reason.startswith("body is not valid JSON")
    assert notification.body["unparsed"].startswith('{"EventName"')


def test_body_without_records_is_rejected():
    [record] = parse_notification(b'{"EventName": "s3:ObjectCreated:Put"}').records
    assert record.reason == "body has no non-empty 'Records' list"
    [record] = parse_notification(b"[1, 2]").records
    assert record.reason == "body is a JSON list, not an object"


def test_each_record_of_a_multi_record_body_is_parsed_on_its_own():
    body = json.loads((SAMPLES / "put_job.json").read_text())
    broken = {"eventName": "s3:ObjectCreated:Put", "s3": {"bucket": {"name": "benchmarks"}}}
    body["Records"].append(broken)
    first, second = parse_notification(json.dumps(body).encode()).records
    assert isinstance(first, ObjectEvent)
    assert isinstance(second, RejectedRecord)
    assert second.reason == "record has no 's3.object.key'"
    assert second.bucket == "benchmarks"


def test_create_event_without_etag_is_rejected():
    body = json.loads((SAMPLES / "put_job.json").read_text())
    del body["Records"][0]["s3"]["object"]["eTag"]
    [record] = parse_notification(json.dumps(body).encode()).records
    assert record.reason == "s3:ObjectCreated:Put record has no 'eTag'"
    assert record.key == "user-7f3c2a/job_4.h5"


def test_bad_field_types_are_rejected():
    body = json.loads((SAMPLES / "put_job.json").read_text())
    body["Records"][0]["s3"]["object"]["size"] = "16176"
    [record] = parse_notification(json.dumps(body).encode()).records
    assert record.reason == "'size' is not a non-negative integer"


@given(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1)
)
def test_any_key_survives_minio_escaping(key):
    body = json.loads((SAMPLES / "put_job.json").read_text())
    body["Records"][0]["s3"]["object"]["key"] = urllib.parse.quote_plus(key, safe="")
    [record] = parse_notification(json.dumps(body).encode()).records
    if len(key.encode()) <= 1024:
        assert isinstance(record, ObjectEvent)
        assert record.key == key


def test_owner_is_the_namespace_segment_only():
    assert owner_of("user-7f3c2a/runs 2026/job_5.h5", "user-") == "user-7f3c2a"
    assert owner_of("user-7f3c2a.h5", "user-") is None  # no folder: no namespace
    assert owner_of("shared/job.h5", "user-") is None
    assert owner_of("user-/job.h5", "user-") is None


def test_helpers():
    assert normalise_etag('"abc"') == "abc"
    assert normalise_etag('""') is None
    assert is_profile_key("a/b/JOB.H5") and not is_profile_key("a/notes.txt")
    assert object_source("benchmarks", "user-1/a b.h5") == "s3://benchmarks/user-1/a b.h5"
