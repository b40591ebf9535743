"""The rescan: uploads whose notifications never arrived, objects deleted silently, and the
workers' periodic run."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from analysis_module.app.ingest_setup import rescan
from analysis_module.settings import AnalysisSettings
from tests.ingest.conftest import running, service_env, worker_process
from tests.ingest.support import (
    EXAMPLES,
    events_of,
    fetch_all,
    jobs_of,
    object_row,
    own_name,
    profile_bytes,
    summary_row,
    upload,
    wait_until,
)
from tests.support.servers import ROOT


def settings_for(env: dict[str, str], monkeypatch) -> AnalysisSettings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return AnalysisSettings()


def all_ok(db, bucket: str, keys: list[str]):
    def check():
        rows = [object_row(db, bucket, key) for key in keys]
        return rows if all(row and row["status"] == "ok" for row in rows) else None

    return check


def test_rescan_processes_uploads_made_while_the_listener_was_down(
    ingest_db, s3_endpoint, s3_bucket, monkeypatch
):
    s3 = s3_endpoint.client()
    env = service_env(ingest_db, s3_endpoint, s3_bucket)
    folder = uuid.uuid4().hex[:8]
    keys = [f"user-7f3c2a/{folder}/run {n}/{own_name('job_4.h5')}" for n in range(5)]
    for key in keys:
        upload(s3, s3_bucket, key, profile_bytes("job_4.h5"))
    upload(s3, s3_bucket, f"user-7f3c2a/{folder}/notes.txt", b"not a profile")

    report = rescan(settings_for(env, monkeypatch))
    assert (report.listed, report.profiles, report.enqueued) == (6, 5, 5)
    assert sorted(report.enqueued_keys) == sorted(keys)
    assert events_of(ingest_db, s3_bucket, keys[0]) == ["accepted"]

    # a second rescan before any worker ran: they are queued already
    again = rescan(settings_for(env, monkeypatch))
    assert (again.enqueued, again.in_progress) == (0, 5)

    with running(worker_process(env)):
        rows = wait_until(all_ok(ingest_db, s3_bucket, keys), what="all five analysed")
    for row in rows:
        assert summary_row(ingest_db, row["source"])["status"] == "ok"
        assert len(jobs_of(ingest_db, row["source"])) == 1

    # the batch CLI's --rescan: nothing left to do
    done = subprocess.run(
        [sys.executable, "analysis_module/duckdb_analysis.py", "--rescan"],
        cwd=ROOT,
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    # ... said for people, one count a line, not a Python repr
    assert done.stderr.startswith(f"rescan of s3://{s3_bucket}/")
    assert "RescanReport(" not in done.stderr
    assert "       5  up to date" in done.stderr.splitlines()
    assert "       0  queued for analysis" in done.stderr.splitlines()
    final = rescan(settings_for(env, monkeypatch))
    assert (final.enqueued, final.up_to_date) == (0, 5)


def test_rescan_marks_objects_deleted_without_notification_removed(
    ingest_db, s3_endpoint, s3_bucket, monkeypatch
):
    s3 = s3_endpoint.client()
    env = service_env(ingest_db, s3_endpoint, s3_bucket)
    key = f"user-7f3c2a/{uuid.uuid4().hex[:8]}/{own_name('job_4.h5')}"
    upload(s3, s3_bucket, key, profile_bytes("job_4.h5"))
    with running(worker_process(env)):
        assert rescan(settings_for(env, monkeypatch)).enqueued == 1
        row = wait_until(all_ok(ingest_db, s3_bucket, [key]), what="the analysis")[0]

        s3.delete_object(Bucket=s3_bucket, Key=key)
        assert rescan(settings_for(env, monkeypatch)).removed == 1
        wait_until(
            lambda: summary_row(ingest_db, row["source"])["status"] == "removed",
            what="the results to be marked removed",
        )
    assert object_row(ingest_db, s3_bucket, key)["status"] == "removed"


@pytest.mark.parametrize("cron", ["* * * * * *"])  # every second (6th field: seconds)
def test_workers_rescan_periodically(ingest_db, s3_endpoint, s3_bucket, cron):
    s3 = s3_endpoint.client()
    env = service_env(ingest_db, s3_endpoint, s3_bucket, INGEST_RESCAN_CRON=cron)
    key = f"user-7f3c2a/{uuid.uuid4().hex[:8]}/{own_name('job_5.h5')}"
    with running(worker_process(env)):
        upload(s3, s3_bucket, key, profile_bytes("job_5.h5"))
        row = wait_until(all_ok(ingest_db, s3_bucket, [key]), what="the periodic rescan")[0]
    assert events_of(ingest_db, s3_bucket, key) == ["accepted"]
    assert summary_row(ingest_db, row["source"])["status"] == "ok"


def test_rescan_queues_a_jobs_files_and_through_them_the_job(
    ingest_db, s3_endpoint, s3_bucket, monkeypatch
):
    s3 = s3_endpoint.client()
    env = service_env(ingest_db, s3_endpoint, s3_bucket, INGEST_JOB_QUIET_S="1")
    folder = f"user-7f3c2a/{uuid.uuid4().hex[:8]}"
    for name in ("5_0_vm.h5", "5_1_vm.h5", "5_batch_vm.h5"):
        upload(s3, s3_bucket, f"{folder}/{name}", (EXAMPLES / "nodestep" / name).read_bytes())
    corrupt = f"{folder}/5_9_vm.h5"
    upload(s3, s3_bucket, corrupt, b"\x89HDF\r\n\x1a\n" + b"broken" * 40)
    job = f"s3://{s3_bucket}/{folder}/job_5"

    def job_settled():
        row = summary_row(ingest_db, job)
        waiting = fetch_all(
            ingest_db,
            "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
            " AND starts_with(lock, %s)",
            f"s3://{s3_bucket}/{folder}/",
        )[0][0]
        return row if row and row["n_files"] == 4 and not waiting else None

    with running(worker_process(env)):
        assert rescan(settings_for(env, monkeypatch)).enqueued == 4
        first = wait_until(job_settled, what="the job from the rescanned files")
        assert (first["status"], first["n_files_failed"]) == ("ok", 1)
        assert object_row(ingest_db, s3_bucket, corrupt)["status"] == "failed"
        assert rescan(settings_for(env, monkeypatch)).enqueued == 0  # nothing new

        again = rescan(settings_for(env, monkeypatch), retry_failed=True)
        assert again.enqueued_keys == [corrupt]
        wait_until(
            lambda: (row := job_settled()) and row["analysed_at"] > first["analysed_at"],
            what="the job analysed again",
        )
    row = object_row(ingest_db, s3_bucket, corrupt)
    assert (row["status"], row["failure_kind"], row["attempts"]) == ("failed", "file", 2)


def test_rescan_queues_a_jobs_file_that_an_earlier_release_analysed_on_its_own(
    ingest_db, s3_endpoint, s3_bucket, monkeypatch
):
    s3 = s3_endpoint.client()
    env = service_env(ingest_db, s3_endpoint, s3_bucket)
    key = f"user-7f3c2a/{uuid.uuid4().hex[:8]}/5_0_vm.h5"
    etag = upload(s3, s3_bucket, key, (EXAMPLES / "nodestep" / "5_0_vm.h5").read_bytes())
    with ingest_db.connect() as conn:  # as an analysis of its own left it: ok, no job_source
        conn.execute(
            "INSERT INTO ingest_objects (bucket, key, source, owner, etag, status, attempts)"
            " VALUES (%s, %s, %s, 'user-7f3c2a', %s, 'ok', 1)",
            (s3_bucket, key, f"s3://{s3_bucket}/{key}", etag),
        )
    report = rescan(settings_for(env, monkeypatch))
    assert report.enqueued_keys == [key]
    assert object_row(ingest_db, s3_bucket, key)["status"] == "queued"
