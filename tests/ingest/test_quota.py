"""Per-user quotas re-checked when an upload arrives: a client that writes past its quota (an
old presigned URL, a direct PUT) gets its upload failed "over quota", not analysed, and kept.

Real listener, worker, PostgreSQL and Ceph RGW; the objects are put straight into the bucket,
bypassing the API's check at issue time.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

from analysis_module.app.ingest_setup import rescan
from analysis_module.ingest.quota import (
    OwnerListings,
    OwnerQuota,
    Usage,
    over_quota_reason,
    usage_up_to,
)
from analysis_module.ingest.service import _over_quota
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


def _at(second: float) -> datetime:
    return datetime.fromtimestamp(second, UTC)


def _info(key: str, second: float, size: int = 10, listed_at: float | None = None):
    listed = _at(listed_at) if listed_at is not None else None
    return SimpleNamespace(key=key, size=size, last_modified=_at(second), listed_at=listed)


class Namespace:
    """The owner's objects as the store lists them, served at `served_s`; counts listings."""

    def __init__(self, arrivals: dict[str, float], served_s: float | None):
        self.arrivals, self.served_s, self.listings = dict(arrivals), served_s, 0

    def list_objects(self, prefix: str = ""):
        self.listings += 1
        for key, second in sorted(self.arrivals.items()):
            yield _info(key, second, listed_at=self.served_s)

    def head(self, key: str):
        return _info(key, self.arrivals[key])


def check(namespace: Namespace, listings: OwnerListings | None, key: str, max_objects: int):
    """The worker's quota check of one arrival (no bytes limit to speak of)."""
    deps = SimpleNamespace(
        objects=namespace,
        listings=listings,
        config=SimpleNamespace(owner_quota=OwnerQuota(max_objects, 10**12)),
    )
    row = SimpleNamespace(owner="u", source=f"s3://b/{key}")
    return asyncio.run(_over_quota(deps, row, namespace.head(key)))


BURST = {f"u/run{n}/job_{n}.h5": 100.0 + n / 4 for n in range(8)}  # seconds 100..101


def test_a_burst_of_one_owners_uploads_is_listed_once_not_once_per_upload():
    namespace = Namespace(BURST, served_s=104.2)  # the worker reached them 3 s later
    listings = OwnerListings()
    assert [check(namespace, listings, key, max_objects=8) for key in BURST] == [None] * 8
    assert namespace.listings == 1
    # without kept listings (the default of the service), one listing per arrival
    assert [check(namespace, None, key, max_objects=8) for key in BURST] == [None] * 8
    assert namespace.listings == 1 + 8


def test_an_upload_of_the_seconds_just_before_the_listing_is_listed_again():
    namespace = Namespace({**BURST, "u/late/job_9.h5": 103.2}, served_s=104.0)
    listings = OwnerListings()
    assert check(namespace, listings, "u/run0/job_0.h5", max_objects=9) is None
    assert check(namespace, listings, "u/run7/job_7.h5", max_objects=9) is None  # 101 + 2 <= 104
    assert namespace.listings == 1
    # 103 + 2 > 104: the gateway may have stamped the listing before that second was over
    assert check(namespace, listings, "u/late/job_9.h5", max_objects=9) is None
    assert namespace.listings == 2


def test_past_the_quota_by_a_kept_listing_the_verdict_comes_from_a_fresh_one():
    namespace = Namespace(BURST, served_s=110.0)
    listings = OwnerListings()
    assert check(namespace, listings, "u/run0/job_0.h5", max_objects=4) is None
    # the 5th upload is over by the kept listing; the user deleted two older ones since
    for key in ("u/run1/job_1.h5", "u/run2/job_2.h5"):
        del namespace.arrivals[key]
    assert check(namespace, listings, "u/run4/job_4.h5", max_objects=4) is None
    assert namespace.listings == 2
    reason = check(namespace, listings, "u/run6/job_6.h5", max_objects=4)
    assert reason.startswith("over quota: the owner's 5 objects exceed USER_MAX_OBJECTS=4")
    assert namespace.listings == 3


def test_kept_listings_expire_and_listings_without_the_stores_time_are_not_kept():
    now = [0.0]
    listings = OwnerListings(max_age_s=30.0, clock=lambda: now[0])
    namespace = Namespace(BURST, served_s=110.0)
    check(namespace, listings, "u/run0/job_0.h5", max_objects=8)
    now[0] = 31.0
    check(namespace, listings, "u/run1/job_1.h5", max_objects=8)
    assert namespace.listings == 2

    undated, listings = Namespace(BURST, served_s=None), OwnerListings()
    for key in list(BURST)[:3]:
        check(undated, listings, key, max_objects=8)
    assert undated.listings == 3


def test_a_listing_longer_than_the_kept_limit_is_not_kept():
    listings = OwnerListings(max_objects=7)
    namespace = Namespace(BURST, served_s=110.0)
    for key in list(BURST)[:3]:
        assert check(namespace, listings, key, max_objects=8) is None
    assert namespace.listings == 3
