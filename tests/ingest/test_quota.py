"""Per-user quotas re-checked when an upload arrives: a client that writes past its quota (an
old presigned URL, a direct PUT) gets its upload failed "over quota", not analysed, and kept.

Real listener, worker, PostgreSQL and Ceph RGW; the objects are put straight into the bucket,
bypassing the API's check at issue time.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

from analysis_module.app.ingest_setup import rescan
from analysis_module.ingest.quota import OwnerQuota, Usage, over_quota_reason, usage_up_to
from analysis_module.settings import AnalysisSettings
from tests.ingest.conftest import listener_process, running, service_env, worker_process
from tests.ingest.support import (
    minio_event,
    object_row,
    own_name,
    profile_bytes,
    summary_row,
    upload,
    wait_until,
)


def settled(db, bucket: str, keys: list[str]):
    def check():
        rows = [object_row(db, bucket, key) for key in keys]
        done = all(row and row["status"] in ("ok", "failed") for row in rows)
        return rows if done else None

    return check


def rescan_with(env: dict[str, str], monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return rescan(AnalysisSettings())


def three_uploads(s3, bucket: str, owner: str, data: bytes) -> list[str]:
    """In this order; within one second the key decides which arrived first."""
    keys = [f"{owner}/run{n}/{own_name('job_4.h5')}" for n in (1, 2, 3)]
    for key in keys:
        upload(s3, bucket, key, data)
    return keys


def test_an_upload_past_the_object_quota_is_failed_until_the_user_deletes_one(
    ingest_db, s3_endpoint, s3_bucket, post_event, monkeypatch
):
    s3 = s3_endpoint.client()
    env = service_env(ingest_db, s3_endpoint, s3_bucket, USER_MAX_OBJECTS="2")
    data = profile_bytes("job_4.h5")
    alice, bob = (f"user-{uuid.uuid4().hex[:8]}" for _ in range(2))
    keys = three_uploads(s3, s3_bucket, alice, data)
    other = f"{bob}/run1/{own_name('job_4.h5')}"
    upload(s3, s3_bucket, other, data)

    with running(listener_process(env)) as listener, running(worker_process(env)):
        for key in [*keys, other]:
            event = minio_event(
                s3_bucket, key, etag=upload_etag(s3, s3_bucket, key), size=len(data)
            )
            assert post_event(listener.base_url, event).status_code == 200
        rows = wait_until(settled(ingest_db, s3_bucket, [*keys, other]), what="four verdicts")
        third, bobs = rows[2:]
        assert [r["status"] for r in rows] == ["ok", "ok", "failed", "ok"]
        assert third["error"] == (
            "over quota: the owner's 3 objects exceed USER_MAX_OBJECTS=2; delete some, "
            "and the next rescan analyses this one"
        )
        assert third["failure_kind"] == "config"  # retried by a rescan
        assert summary_row(ingest_db, third["source"]) is None  # not analysed
        assert summary_row(ingest_db, bobs["source"])["status"] == "ok"
        s3.head_object(Bucket=s3_bucket, Key=keys[2])  # nothing was deleted

        # a rescan before any deletion: still over quota
        assert rescan_with(env, monkeypatch).enqueued == 1
        again = wait_until(
            lambda: (
                (row := object_row(ingest_db, s3_bucket, keys[2]))["attempts"] == 2
                and row["status"] in ("ok", "failed")
                and row
            ),
            what="the second verdict",
        )
        assert (again["status"], again["error"]) == ("failed", third["error"])

        s3.delete_object(Bucket=s3_bucket, Key=keys[0])
        report = rescan_with(env, monkeypatch)
        assert (report.enqueued, report.removed) == (1, 1)
        now_ok = wait_until(
            lambda: (row := object_row(ingest_db, s3_bucket, keys[2]))["status"] == "ok" and row,
            what="the analysis after the deletion",
        )
    assert (now_ok["error"], now_ok["failure_kind"]) == (None, None)
    assert summary_row(ingest_db, now_ok["source"])["status"] == "ok"


def upload_etag(s3, bucket: str, key: str) -> str:
    return s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')


def test_an_upload_past_the_byte_quota_is_failed_until_the_user_deletes_one(
    ingest_db, s3_endpoint, s3_bucket, monkeypatch
):
    s3 = s3_endpoint.client()
    data = profile_bytes("job_4.h5")
    limit = 2 * len(data) + 1  # room for two of them
    env = service_env(ingest_db, s3_endpoint, s3_bucket, USER_MAX_BYTES=str(limit))
    keys = three_uploads(s3, s3_bucket, f"user-{uuid.uuid4().hex[:8]}", data)

    with running(worker_process(env)):
        assert rescan_with(env, monkeypatch).enqueued == 3
        rows = wait_until(settled(ingest_db, s3_bucket, keys), what="three verdicts")
        assert [r["status"] for r in rows] == ["ok", "ok", "failed"]
        assert rows[2]["error"].startswith(
            f"over quota: the owner's {len(data) * 3 / 1024:.1f} KiB ({len(data) * 3} bytes) "
            f"exceed USER_MAX_BYTES={limit / 1024:.1f} KiB ({limit} bytes); "
        )
        s3.delete_object(Bucket=s3_bucket, Key=keys[1])
        assert rescan_with(env, monkeypatch).enqueued == 1
        row = wait_until(
            lambda: (row := object_row(ingest_db, s3_bucket, keys[2]))["status"] == "ok" and row,
            what="the analysis after the deletion",
        )
    assert summary_row(ingest_db, row["source"])["status"] == "ok"


def test_only_objects_that_arrived_no_later_count():
    def obj(key, second, size=10):
        return SimpleNamespace(
            key=key, size=size, last_modified=datetime.fromtimestamp(second, UTC)
        )

    arrived = obj("u/c.h5", 100.0)
    listing = [
        obj("u/a.h5", 50.9),
        obj("u/b.h5", 100.7),  # the same second as c's HEAD, an earlier key: before c
        obj("u/c.h5", 100.4, size=999),  # the listing's entry of c itself: HEAD's size counts
        obj("u/d.h5", 100.2),  # the same second, a later key: after c
        obj("u/e.h5", 101.0),
    ]
    assert usage_up_to(listing, arrived) == Usage(3, 30)
    quota = OwnerQuota(max_objects=3, max_bytes=30)
    assert over_quota_reason(Usage(3, 30), quota) is None
    assert over_quota_reason(Usage(4, 30), quota).startswith("over quota: the owner's 4 objects")
    gib = OwnerQuota(max_objects=1000, max_bytes=10 * 1024**3)
    reason = over_quota_reason(Usage(5, 10 * 1024**3 + 512 * 1024**2), gib)
    assert reason.startswith(
        "over quota: the owner's 10.5 GiB (11274289152 bytes) exceed "
        "USER_MAX_BYTES=10.0 GiB (10737418240 bytes)"
    )
