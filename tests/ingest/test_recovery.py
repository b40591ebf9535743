"""Failures while jobs run: a worker killed, S3 unreachable, PostgreSQL restarted.

S3 is reached through a `FaultyLink` in front of the S3 gateway, so a test can make it hang (a job
stays `running`) or refuse connections, then recover.
"""

from __future__ import annotations

import os
import signal
import time
import urllib.parse
import uuid

import pytest

from analysis_module.migrate import upgrade_database
from tests.ingest.conftest import listener_process, running, service_env, worker_process
from tests.ingest.support import (
    FaultyLink,
    PrivatePostgres,
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
from tests.support.postgres import PgDatabase


@pytest.fixture
def link(s3_endpoint):
    url = urllib.parse.urlsplit(s3_endpoint.url)
    faulty = FaultyLink((url.hostname, url.port))
    yield faulty
    faulty.close()


@pytest.fixture
def s3(s3_endpoint):
    return s3_endpoint.client()


def env_through(link: FaultyLink, db: PgDatabase, s3_endpoint, bucket: str, **extra: str):
    """Services whose S3 traffic goes through the link (the test itself uploads directly)."""
    return service_env(
        db, s3_endpoint, bucket, MINIO_ENDPOINT=link.url, MINIO_ADMIN_ENDPOINT=link.url, **extra
    )


def status_is(db, bucket: str, key: str, status: str):
    def check():
        row = object_row(db, bucket, key)
        return row if row and row["status"] == status else None

    return check


def put_and_notify(s3, listener, post_event, bucket: str, name: str = "job_4.h5") -> str:
    key = f"user-7f3c2a/{uuid.uuid4().hex[:8]}/{own_name(name)}"
    data = profile_bytes(name)
    etag = upload(s3, bucket, key, data)
    response = post_event(listener.base_url, minio_event(bucket, key, etag=etag, size=len(data)))
    assert response.status_code == 200
    return key


def assert_single_result_set(db, source: str) -> None:
    duplicates = fetch_all(
        db,
        "SELECT level, step, node FROM job_step_node WHERE source = %s"
        " GROUP BY level, step, node HAVING count(*) > 1",
        source,
    )
    assert duplicates == []
    assert fetch_all(db, "SELECT count(*) FROM job_step_node WHERE source = %s", source)[0][0] > 0


def test_job_of_a_killed_worker_completes_after_restart(
    ingest_db, s3_endpoint, s3_bucket, s3, link, post_event
):
    env = env_through(link, ingest_db, s3_endpoint, s3_bucket)
    with running(listener_process(env)) as listener:
        first = worker_process(env)
        with running(first):
            link.stall()
            key = put_and_notify(s3, listener, post_event, s3_bucket)
            wait_until(status_is(ingest_db, s3_bucket, key, "running"), what="the job to start")
            first.kill()  # SIGKILL mid-job: no clean-up, the job stays 'doing'
        source = f"s3://{s3_bucket}/{key}"
        assert jobs_of(ingest_db, source) == [("ingest:analyse_object", "doing", 0)]

        link.passes()
        with running(worker_process(env)):
            row = wait_until(status_is(ingest_db, s3_bucket, key, "ok"), what="the retried job")
    assert row["attempts"] == 2
    assert jobs_of(ingest_db, source) == [("ingest:analyse_object", "succeeded", 2)]
    assert summary_row(ingest_db, source)["status"] == "ok"
    assert_single_result_set(ingest_db, source)


def test_s3_unreachable_for_a_while_is_retried_until_it_succeeds(
    ingest_db, s3_endpoint, s3_bucket, s3, link, post_event
):
    env = env_through(link, ingest_db, s3_endpoint, s3_bucket)
    link.refuse()
    with running(listener_process(env)) as listener, running(worker_process(env)):
        key = put_and_notify(s3, listener, post_event, s3_bucket)

        def retrying():
            row = object_row(ingest_db, s3_bucket, key)
            return row if row["attempts"] >= 2 and row["status"] == "queued" else None

        waiting = wait_until(retrying, what="a second attempt")
        assert "S3 unreachable" in waiting["error"]
        link.passes()
        row = wait_until(status_is(ingest_db, s3_bucket, key, "ok"), what="success")
    assert row["error"] is None
    assert row["attempts"] >= 2
    assert summary_row(ingest_db, row["source"])["status"] == "ok"


def test_one_job_per_object_runs_at_a_time(ingest_db, s3_endpoint, s3_bucket, s3, link, post_event):
    env = env_through(link, ingest_db, s3_endpoint, s3_bucket)
    with (
        running(listener_process(env)) as listener,
        running(worker_process(env)),
        running(worker_process(env)),
    ):
        link.stall()
        key = put_and_notify(s3, listener, post_event, s3_bucket, "job_4.h5")
        wait_until(status_is(ingest_db, s3_bucket, key, "running"), what="the first job")
        data = profile_bytes("job_5.h5")
        newer = upload(s3, s3_bucket, key, data)
        post_event(listener.base_url, minio_event(s3_bucket, key, etag=newer, size=len(data)))
        source = f"s3://{s3_bucket}/{key}"
        # a second worker is idle, yet the newer job waits for the running one
        wait_until(lambda: len(jobs_of(ingest_db, source)) == 2, what="the second job")
        statuses = [status for _, status, _ in jobs_of(ingest_db, source)]
        assert statuses == ["doing", "todo"]

        link.passes()

        def both_done():
            jobs = jobs_of(ingest_db, source)
            row = object_row(ingest_db, s3_bucket, key)
            return row if all(s == "succeeded" for _, s, _ in jobs) else None

        row = wait_until(both_done, what="both jobs")
    assert (row["status"], row["etag"]) == ("ok", newer)
    assert summary_row(ingest_db, source)["source_etag"] == newer
    assert_single_result_set(ingest_db, source)


@pytest.fixture
def private_pg():
    cluster = PrivatePostgres()
    cluster.start()
    upgrade_database(cluster.db.dsn)
    yield cluster
    cluster.destroy()


def test_postgres_restart_while_jobs_run(private_pg, s3_endpoint, s3_bucket, s3, link, post_event):
    db = private_pg.db
    env = env_through(link, db, s3_endpoint, s3_bucket)
    with running(listener_process(env)) as listener, running(worker_process(env)):
        link.stall()
        keys = [put_and_notify(s3, listener, post_event, s3_bucket) for _ in range(3)]
        wait_until(status_is(db, s3_bucket, keys[0], "running"), what="a job to start")

        private_pg.stop()
        late_key = f"user-7f3c2a/{uuid.uuid4().hex[:8]}/{own_name('job_5.h5')}"
        data = profile_bytes("job_5.h5")
        etag = upload(s3, s3_bucket, late_key, data)
        body = minio_event(s3_bucket, late_key, etag=etag, size=len(data))
        # not recorded: MinIO is told to retry
        assert post_event(listener.base_url, body).status_code == 503
        private_pg.start()
        wait_until(
            lambda: post_event(listener.base_url, body).status_code == 200,
            what="the listener to record again",
        )
        link.passes()
        for key in [*keys, late_key]:
            wait_until(status_is(db, s3_bucket, key, "ok"), timeout_s=60, what=f"{key} ok")
    for key in [*keys, late_key]:
        source = f"s3://{s3_bucket}/{key}"
        assert summary_row(db, source)["status"] == "ok"
        assert_single_result_set(db, source)


def test_sigterm_lets_the_running_job_finish(
    ingest_db, s3_endpoint, s3_bucket, s3, link, post_event
):
    # A grace far longer than the job needs on a busy machine: the worker leaves as soon as the
    # job is done, so the wait below measures nothing but lets a loaded machine finish.
    env = env_through(link, ingest_db, s3_endpoint, s3_bucket, WORKER_SHUTDOWN_GRACE_S="90")
    with running(listener_process(env)) as listener:
        worker = worker_process(env).start()
        try:
            link.stall()
            key = put_and_notify(s3, listener, post_event, s3_bucket)
            wait_until(status_is(ingest_db, s3_bucket, key, "running"), what="the job to start")
            os.killpg(worker.proc.pid, signal.SIGTERM)
            time.sleep(0.5)
            link.passes()  # the network comes back within the grace period
            assert worker.proc.wait(timeout=120) == 0
        finally:
            worker.stop()
    row = object_row(ingest_db, s3_bucket, key)
    assert (row["status"], row["attempts"]) == ("ok", 1)
    assert jobs_of(ingest_db, row["source"]) == [("ingest:analyse_object", "succeeded", 1)]


def test_job_cut_off_by_shutdown_goes_back_to_the_queue(
    ingest_db, s3_endpoint, s3_bucket, s3, link, post_event
):
    env = env_through(link, ingest_db, s3_endpoint, s3_bucket, WORKER_SHUTDOWN_GRACE_S="1")
    with running(listener_process(env)) as listener:
        worker = worker_process(env).start()
        try:
            link.stall()
            key = put_and_notify(s3, listener, post_event, s3_bucket)
            wait_until(status_is(ingest_db, s3_bucket, key, "running"), what="the job to start")
            os.killpg(worker.proc.pid, signal.SIGTERM)
            assert worker.proc.wait(timeout=15) == 0  # not held by the hanging download
        finally:
            worker.stop()
        source = f"s3://{s3_bucket}/{key}"
        assert [status for _, status, _ in jobs_of(ingest_db, source)] == ["todo"]
        link.passes()
        with running(worker_process(env)):
            row = wait_until(status_is(ingest_db, s3_bucket, key, "ok"), what="the job again")
    assert row["attempts"] == 2


def test_concurrency_runs_jobs_of_different_objects_together(
    ingest_db, s3_endpoint, s3_bucket, s3, link, post_event
):
    """Two uploads named job_4.h5 in two folders, analysed at once by one process: both end
    ok with their own tables (a clash on the table name is retried, not fatal)."""
    env = env_through(link, ingest_db, s3_endpoint, s3_bucket)
    with (
        running(listener_process(env)) as listener,
        running(worker_process(env, "--concurrency", "2")),
    ):
        link.stall()
        keys = [put_and_notify(s3, listener, post_event, s3_bucket) for _ in range(2)]
        for key in keys:  # both started while S3 hangs: two jobs at once in one process
            wait_until(status_is(ingest_db, s3_bucket, key, "running"), what=f"{key} running")
        link.passes()
        for key in keys:
            wait_until(status_is(ingest_db, s3_bucket, key, "ok"), what=f"{key} ok")
    tables = {summary_row(ingest_db, f"s3://{s3_bucket}/{key}")["table_name"] for key in keys}
    assert len(tables) == 2
