"""Upload -> MinIO-shaped event -> listener -> queue -> worker -> job_summary, all real."""

from __future__ import annotations

import uuid

import pytest

from tests.ingest.conftest import listener_process, running, service_env, worker_process
from tests.ingest.support import (
    events_of,
    fetch_all,
    jobs_of,
    minio_event,
    object_row,
    own_name,
    profile_bytes,
    summary_row,
    upload,
    wait_until,
)


@pytest.fixture(scope="module")
def services(module_db, s3_endpoint, module_bucket):
    env = service_env(module_db, s3_endpoint, module_bucket)
    with running(listener_process(env)) as listener, running(worker_process(env)):
        yield listener


@pytest.fixture
def s3(s3_endpoint):
    return s3_endpoint.client()


def new_key(name: str = "job_4.h5") -> str:
    return f"user-7f3c2a/{uuid.uuid4().hex[:8]}/{own_name(name)}"


def settled(db, bucket: str, key: str, status: str = "ok"):
    def check():
        row = object_row(db, bucket, key)
        return row if row and row["status"] == status else None

    return wait_until(check, timeout_s=30, what=f"{key} to be {status}")


def test_upload_and_event_give_a_job_summary_row(
    services, module_db, module_bucket, s3, post_event
):
    key = new_key()
    data = profile_bytes("job_4.h5")
    etag = upload(s3, module_bucket, key, data)
    response = post_event(
        services.base_url, minio_event(module_bucket, key, etag=etag, size=len(data))
    )
    assert response.status_code == 200

    source = f"s3://{module_bucket}/{key}"
    summary = wait_until(lambda: summary_row(module_db, source), what="the job_summary row")
    assert summary["status"] == "ok"
    assert summary["source_etag"] == etag
    assert summary["owner"] == "user-7f3c2a"
    assert summary["energy_j"] > 0
    row = settled(module_db, module_bucket, key)
    assert (row["attempts"], row["error"], row["etag"]) == (1, None, etag)
    assert row["started_at"] <= row["finished_at"]


def test_same_event_three_times_gives_one_analysis(
    services, module_db, module_bucket, s3, post_event
):
    key = new_key()
    data = profile_bytes("job_4.h5")
    etag = upload(s3, module_bucket, key, data)
    body = minio_event(module_bucket, key, etag=etag, size=len(data))
    for _ in range(3):
        assert post_event(services.base_url, body).status_code == 200
    first = settled(module_db, module_bucket, key)
    analysed_at = summary_row(module_db, first["source"])["analysed_at"]

    assert post_event(services.base_url, body).json()["recorded"][0]["reason"] == "already analysed"
    assert events_of(module_db, module_bucket, key) == ["accepted"] + ["duplicate"] * 3
    assert jobs_of(module_db, first["source"]) == [
        ("ingest:analyse_object", "succeeded", 1)
    ]  # ran once
    assert object_row(module_db, module_bucket, key)["attempts"] == 1
    assert summary_row(module_db, first["source"])["analysed_at"] == analysed_at


def test_url_encoded_key_with_spaces_and_slashes_is_the_right_object(
    services, module_db, module_bucket, s3, post_event
):
    key = f"user-7f3c2a/runs 2026/{uuid.uuid4().hex[:6]}/job_5 (rerun)+1.h5"
    data = profile_bytes("job_5.h5")
    etag = upload(s3, module_bucket, key, data)
    body = minio_event(module_bucket, key, etag=etag, size=len(data))
    assert "%2F" in body["Records"][0]["s3"]["object"]["key"]  # escaped as MinIO does
    post_event(services.base_url, body)
    row = settled(module_db, module_bucket, key)
    summary = summary_row(module_db, f"s3://{module_bucket}/{key}")
    assert summary["status"] == "ok"
    assert summary["source_etag"] == row["etag"] == etag


def test_corrupt_file_fails_once_with_its_reason_and_a_good_upload_then_processes(
    services, module_db, module_bucket, s3, post_event
):
    key = new_key()
    bad = b"\x89HDF\r\n\x1a\n" + b"not really hdf5" * 20
    etag = upload(s3, module_bucket, key, bad)
    body = minio_event(module_bucket, key, etag=etag, size=len(bad))
    post_event(services.base_url, body)
    row = settled(module_db, module_bucket, key, "failed")
    assert row["attempts"] == 1
    assert row["error"]
    summary = summary_row(module_db, row["source"])
    assert (summary["status"], summary["error"]) == ("failed", row["error"])
    assert jobs_of(module_db, row["source"]) == [
        ("ingest:analyse_object", "failed", 1)
    ]  # ran once, no retry
    # the same event again does not try the same bytes again
    assert post_event(services.base_url, body).json()["recorded"][0]["disposition"] == "duplicate"

    good = profile_bytes("job_4.h5")
    good_etag = upload(s3, module_bucket, key, good)
    post_event(services.base_url, minio_event(module_bucket, key, etag=good_etag, size=len(good)))
    row = settled(module_db, module_bucket, key)
    assert (row["etag"], row["attempts"], row["error"]) == (good_etag, 1, None)
    summary = summary_row(module_db, row["source"])
    assert (summary["status"], summary["source_etag"]) == ("ok", good_etag)


def test_newer_upload_supersedes_the_older_one(services, module_db, module_bucket, s3, post_event):
    key = new_key()
    first = profile_bytes("job_4.h5")
    first_etag = upload(s3, module_bucket, key, first)
    second = profile_bytes("job_5.h5")
    second_etag = upload(s3, module_bucket, key, second)
    # both notifications arrive after the second upload: only the newest content is analysed
    post_event(services.base_url, minio_event(module_bucket, key, etag=first_etag, size=1))
    post_event(services.base_url, minio_event(module_bucket, key, etag=second_etag, size=1))

    def newest_done():
        row = object_row(module_db, module_bucket, key)
        jobs = jobs_of(module_db, row["source"])
        done = all(status in ("succeeded", "failed") for _, status, _ in jobs)
        return row if done and row["status"] == "ok" else None

    row = wait_until(newest_done, what="both jobs to finish")
    assert row["etag"] == second_etag
    assert summary_row(module_db, row["source"])["source_etag"] == second_etag


def test_removal_marks_the_results_removed(services, module_db, module_bucket, s3, post_event):
    key = new_key()
    data = profile_bytes("job_4.h5")
    etag = upload(s3, module_bucket, key, data)
    post_event(services.base_url, minio_event(module_bucket, key, etag=etag, size=len(data)))
    row = settled(module_db, module_bucket, key)

    s3.delete_object(Bucket=module_bucket, Key=key)
    removal = minio_event(module_bucket, key, event_name="s3:ObjectRemoved:Delete")
    post_event(services.base_url, removal)
    wait_until(
        lambda: summary_row(module_db, row["source"])["status"] == "removed",
        what="job_summary to say removed",
    )
    assert object_row(module_db, module_bucket, key)["status"] == "removed"


def test_no_duplicate_result_rows(services, module_db):
    duplicates = fetch_all(
        module_db,
        "SELECT source, level, step, node, count(*) FROM job_step_node"
        " GROUP BY source, level, step, node HAVING count(*) > 1",
    )
    assert duplicates == []
