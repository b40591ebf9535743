"""Objects that fail their worker: a late failure, two kills, two timeouts, a bad setting;
and the analysis of a Slurm job that kills its worker twice.

Real listener, workers, PostgreSQL and S3. `tests.ingest.faulty_worker` is the production
worker with faults for marked keys; kills are SIGKILLs of real worker processes while S3
hangs (a `FaultyLink`), as in test_recovery.py.
"""

from __future__ import annotations

import urllib.parse
import uuid

import httpx
import pytest

from analysis_module.app.ingest_setup import rescan
from analysis_module.settings import AnalysisSettings
from tests.ingest.conftest import listener_process, running, service_env, worker_process
from tests.ingest.support import (
    EXAMPLES,
    FaultyLink,
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
from tests.support.net import free_port, wait_for_http
from tests.support.servers import PythonProcess

FAULTY_WORKER = ["-m", "tests.ingest.faulty_worker"]
JOB_TASK = "ingest:analyse_job"
JOB_KILLED_TWICE = "gave up: the job's analysis stopped its worker twice (killed, or out of memory)"
CARBON_CSV = "start,carbon_g_per_kwh\n2020-01-01T00:00:00Z,300\n2030-01-01T00:00:00Z,300\n"


@pytest.fixture
def s3(s3_endpoint):
    return s3_endpoint.client()


@pytest.fixture
def link(s3_endpoint):
    url = urllib.parse.urlsplit(s3_endpoint.url)
    faulty = FaultyLink((url.hostname, url.port))
    yield faulty
    faulty.close()


def put_and_notify(s3, listener, post_event, bucket: str, folder: str, name="job_4.h5") -> str:
    key = f"user-7f3c2a/{folder}-{uuid.uuid4().hex[:8]}/{own_name(name)}"
    data = profile_bytes(name)
    etag = upload(s3, bucket, key, data)
    response = post_event(listener.base_url, minio_event(bucket, key, etag=etag, size=len(data)))
    assert response.status_code == 200
    return key


def settled(db, bucket: str, key: str, *statuses: str):
    def check():
        row = object_row(db, bucket, key)
        return row if row and row["status"] in statuses else None

    return check


def rescan_with(env: dict[str, str], monkeypatch, *, retry_failed: bool = False):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return rescan(AnalysisSettings(), retry_failed=retry_failed)


def test_late_failure_fails_that_file_only(ingest_db, s3_endpoint, s3_bucket, s3, post_event):
    env = service_env(ingest_db, s3_endpoint, s3_bucket)
    with running(listener_process(env)) as listener, running(PythonProcess(FAULTY_WORKER, env)):
        bad = put_and_notify(s3, listener, post_event, s3_bucket, "late-failure")
        failed = wait_until(settled(ingest_db, s3_bucket, bad, "failed"), what="the bad file")
        good = [put_and_notify(s3, listener, post_event, s3_bucket, "fine") for _ in range(2)]
        rows = [
            wait_until(settled(ingest_db, s3_bucket, key, "ok", "failed"), what=key) for key in good
        ]
    assert "Value too large" in failed["error"]
    assert (failed["failure_kind"], failed["attempts"]) == ("file", 1)
    assert [row["status"] for row in rows] == ["ok", "ok"]
    assert all(row["attempts"] == 1 for row in rows)


def test_lost_database_connection_mid_analysis_is_retried_not_failed(
    ingest_db, s3_endpoint, s3_bucket, s3, post_event
):
    env = service_env(ingest_db, s3_endpoint, s3_bucket)
    with running(listener_process(env)) as listener, running(PythonProcess(FAULTY_WORKER, env)):
        key = put_and_notify(s3, listener, post_event, s3_bucket, "lose-db")
        row = wait_until(settled(ingest_db, s3_bucket, key, "ok", "failed"), what="verdict")
    assert (row["status"], row["error"], row["failure_kind"]) == ("ok", None, None)
    assert row["attempts"] == 2  # the first run met the dead connection and was retried
    assert summary_row(ingest_db, row["source"])["status"] == "ok"


def test_an_object_that_killed_its_worker_twice_is_failed_and_left_alone(
    ingest_db, s3_endpoint, s3_bucket, s3, link, post_event, monkeypatch
):
    env = service_env(
        ingest_db, s3_endpoint, s3_bucket, MINIO_ENDPOINT=link.url, MINIO_ADMIN_ENDPOINT=link.url
    )
    with running(listener_process(env)) as listener:
        link.stall()  # every download hangs: the job is mid-run when its worker is killed
        key = put_and_notify(s3, listener, post_event, s3_bucket, "killer")
        for attempt in (1, 2):

            def running_attempt(attempt=attempt):
                row = object_row(ingest_db, s3_bucket, key)
                ok = row["status"] == "running" and row["attempts"] == attempt
                return row if ok else None

            with running(worker_process(env)) as worker:
                wait_until(running_attempt, timeout_s=60, what=f"attempt {attempt} running")
                worker.kill()
        with running(worker_process(env)):
            row = wait_until(
                settled(ingest_db, s3_bucket, key, "failed", "ok"), timeout_s=60, what="verdict"
            )
        assert (row["status"], row["error"]) == ("failed", "the analysis killed its worker twice")
        assert (row["failure_kind"], row["worker_kills"]) == ("poison", 2)
        link.passes()

        report = rescan_with(service_env(ingest_db, s3_endpoint, s3_bucket), monkeypatch)
        assert report.enqueued == 0
        assert object_row(ingest_db, s3_bucket, key)["status"] == "failed"
        assert [status for _, status, _ in jobs_of(ingest_db, row["source"])] == ["failed"]

        # new content under the key is a new object: analysed as usual
        data = profile_bytes("job_5.h5")
        etag = upload(s3, s3_bucket, key, data)
        post_event(listener.base_url, minio_event(s3_bucket, key, etag=etag, size=len(data)))
        with running(worker_process(env)):
            row = wait_until(settled(ingest_db, s3_bucket, key, "ok"), what="the new upload")
    assert (row["worker_kills"], row["failure_kind"]) == (0, None)


def test_an_analysis_over_its_time_budget_twice_is_failed(
    ingest_db, s3_endpoint, s3_bucket, s3, post_event, monkeypatch
):
    env = service_env(ingest_db, s3_endpoint, s3_bucket, INGEST_JOB_TIMEOUT_S="1")
    with running(listener_process(env)) as listener, running(PythonProcess(FAULTY_WORKER, env)):
        slow = put_and_notify(s3, listener, post_event, s3_bucket, "slow-analysis")
        row = wait_until(settled(ingest_db, s3_bucket, slow, "failed"), timeout_s=60, what="slow")
        # another table name: a cut-off run holds its transaction (and the table it creates)
        # until it reaches its next step, here for the rest of its 20 s
        good = put_and_notify(s3, listener, post_event, s3_bucket, "fine", "job_5.h5")
        after = wait_until(settled(ingest_db, s3_bucket, good, "ok", "failed"), what="next file")
    assert (row["error"], row["failure_kind"], row["timeouts"]) == (
        "the analysis timed out twice",
        "poison",
        2,
    )
    assert summary_row(ingest_db, row["source"]) is None  # the cut-off runs wrote nothing
    assert after["status"] == "ok", after["error"]
    report = rescan_with(service_env(ingest_db, s3_endpoint, s3_bucket), monkeypatch)
    assert report.enqueued == 0
    assert object_row(ingest_db, s3_bucket, slow)["status"] == "failed"


def test_a_configuration_failure_is_analysed_again_by_the_rescan_after_the_fix(
    ingest_db, s3_endpoint, s3_bucket, s3, post_event, monkeypatch
):
    # A worker deployed with a wrong S3 secret: the store refuses every download. (A bad
    # setting the services can check themselves, such as ENERGY_PLUGIN, stops them at start-up.)
    fixed = service_env(ingest_db, s3_endpoint, s3_bucket)
    broken = {**fixed, "MINIO_SECRET_KEY": "not-the-secret-key-of-this-store"}
    with running(listener_process(fixed)) as listener, running(worker_process(broken)):
        key = put_and_notify(s3, listener, post_event, s3_bucket, "config")
        row = wait_until(settled(ingest_db, s3_bucket, key, "failed", "ok"), what="the failure")
    assert (row["status"], row["failure_kind"]) == ("failed", "config")
    assert row["error"].startswith("S3 refused")
    assert "not-the-secret-key" not in row["error"]

    report = rescan_with(fixed, monkeypatch)
    assert (report.enqueued, report.up_to_date) == (1, 0)
    with running(worker_process(fixed)):
        row = wait_until(settled(ingest_db, s3_bucket, key, "ok"), what="the re-analysis")
    assert (row["error"], row["failure_kind"]) == (None, None)
    assert summary_row(ingest_db, row["source"])["status"] == "ok"


def test_worker_is_unready_while_it_cannot_build_a_runner(
    ingest_db, s3_endpoint, s3_bucket, s3, post_event, tmp_path
):
    carbon = tmp_path / "carbon.csv"
    carbon.write_text(CARBON_CSV)
    port = free_port()
    readyz = f"http://127.0.0.1:{port}/readyz"
    env = service_env(
        ingest_db,
        s3_endpoint,
        s3_bucket,
        CARBON_FILE=str(carbon),
        WORKER_METRICS_HOST="127.0.0.1",
        WORKER_METRICS_PORT=str(port),
    )
    worker = PythonProcess(FAULTY_WORKER, env)
    with running(listener_process(env)) as listener, running(worker):
        wait_for_http(f"http://127.0.0.1:{port}/healthz", is_alive=worker.alive)
        wait_until(lambda: httpx.get(readyz, timeout=5).status_code == 200, what="ready")
        defect = put_and_notify(s3, listener, post_event, s3_bucket, "defect")
        row = wait_until(settled(ingest_db, s3_bucket, defect, "failed"), what="the defect")
        assert (row["failure_kind"], row["error"]) == (
            "internal",
            "internal error: a defect in the breakdown",
        )
        # the runner that saw the defect was discarded; its replacement cannot be built
        carbon.unlink()
        key = put_and_notify(s3, listener, post_event, s3_bucket, "fine")
        unready = wait_until(
            lambda: (answer := httpx.get(readyz, timeout=5)).status_code == 503 and answer,
            what="unready",
        )
        assert "cannot build an analysis runner" in unready.json()["detail"]
        assert object_row(ingest_db, s3_bucket, key)["status"] in ("queued", "running")
        carbon.write_text(CARBON_CSV)
        row = wait_until(settled(ingest_db, s3_bucket, key, "ok"), timeout_s=60, what="ok")
        assert httpx.get(readyz, timeout=5).status_code == 200


def put_job_file(s3, listener, post_event, bucket: str, key: str) -> None:
    data = (EXAMPLES / "nodestep" / key.rpartition("/")[2]).read_bytes()
    etag = upload(s3, bucket, key, data)
    response = post_event(listener.base_url, minio_event(bucket, key, etag=etag, size=len(data)))
    assert response.status_code == 200


def rows_of(db, bucket: str, keys: list[str]) -> list[dict]:
    return [object_row(db, bucket, key) for key in keys]


def all_settled(db, bucket: str, keys: list[str], *statuses: str):
    def check():
        rows = rows_of(db, bucket, keys)
        return rows if all(row and row["status"] in statuses for row in rows) else None

    return check


def job_analysis_running(db, job: str, attempt: int):
    """The job's analysis is running its attempt `attempt` (0 first)."""

    def check():
        return (JOB_TASK, "doing", attempt) in jobs_of(db, job)

    return check


def poison_a_job(ingest_db, s3_bucket, s3, post_event, link, env, keys: list[str]) -> str:
    """The job of `keys` (files of job 5), its files checked, then its analysis killed with
    its worker twice (S3 hangs during its downloads); a third worker gives up on it. Returns
    the job."""
    job = f"s3://{s3_bucket}/{keys[0].rpartition('/')[0]}/job_5"
    with running(listener_process(env)) as listener:
        with running(worker_process(env)):  # checks the files (and keeps checked copies)
            for key in keys:
                put_job_file(s3, listener, post_event, s3_bucket, key)
            wait_until(all_settled(ingest_db, s3_bucket, keys, "ok"), what="the checks")
        link.stall()  # before the quiet period ends: the analysis hangs in its downloads
        with running(worker_process(env)) as worker:  # no checked copies: it downloads
            wait_until(job_analysis_running(ingest_db, job, 0), what="the job's analysis")
            worker.kill()
        with running(worker_process(env)) as worker:
            wait_until(job_analysis_running(ingest_db, job, 1), timeout_s=60, what="attempt 1")
            worker.kill()
        with running(worker_process(env)):
            wait_until(
                lambda: [status for _, status, _ in jobs_of(ingest_db, job)] == ["failed"],
                timeout_s=60,
                what="the verdict",
            )
    rows = rows_of(ingest_db, s3_bucket, keys)
    assert {(row["status"], row["failure_kind"], row["error"]) for row in rows} == {
        ("failed", "poison", JOB_KILLED_TWICE)
    }
    return job


def job_files_of(db, job: str) -> list[tuple]:
    return fetch_all(
        db, "SELECT file_name, status, error FROM job_files WHERE job_source = %s ORDER BY 1", job
    )


def test_a_job_whose_analysis_killed_its_worker_twice_is_failed_and_left_alone(
    ingest_db, s3_endpoint, s3_bucket, s3, link, post_event, monkeypatch
):
    folder = f"user-7f3c2a/oom-{uuid.uuid4().hex[:8]}"
    keys = [f"{folder}/5_0_vm.h5", f"{folder}/5_batch_vm.h5"]
    direct = service_env(ingest_db, s3_endpoint, s3_bucket, INGEST_JOB_QUIET_S="5")
    env = {**direct, "MINIO_ENDPOINT": link.url, "MINIO_ADMIN_ENDPOINT": link.url}
    job = poison_a_job(ingest_db, s3_bucket, s3, post_event, link, env, keys)

    summary = summary_row(ingest_db, job)
    assert (summary["status"], summary["error"]) == ("failed", JOB_KILLED_TWICE)
    assert (summary["n_files"], summary["n_files_failed"]) == (2, 2)
    assert job_files_of(ingest_db, job) == [
        ("5_0_vm.h5", "failed", JOB_KILLED_TWICE),
        ("5_batch_vm.h5", "failed", JOB_KILLED_TWICE),
    ]
    link.passes()
    with running(worker_process(direct)):
        assert rescan_with(direct, monkeypatch).enqueued == 0  # final, like an object's
        assert [row["status"] for row in rows_of(ingest_db, s3_bucket, keys)] == ["failed"] * 2
        # not queued again: its three runs (two killed, one gave up) in one queue job
        assert jobs_of(ingest_db, job) == [(JOB_TASK, "failed", 3)]

        # a new file of the job: the job is analysed again, with the files it had
        with running(listener_process(direct)) as listener:
            put_job_file(s3, listener, post_event, s3_bucket, f"{folder}/5_1_vm.h5")
        keys.append(f"{folder}/5_1_vm.h5")
        rows = wait_until(all_settled(ingest_db, s3_bucket, keys, "ok"), what="the new analysis")
        summary = wait_until(
            lambda: (row := summary_row(ingest_db, job))["status"] == "ok" and row,
            what="the job's row",
        )
    assert (summary["n_files"], summary["n_files_failed"], summary["error"]) == (3, 0, None)
    assert all((row["failure_kind"], row["error"]) == (None, None) for row in rows)


def test_a_poisoned_job_retried_after_the_cause_is_gone_is_analysed(
    ingest_db, s3_endpoint, s3_bucket, s3, link, post_event, monkeypatch
):
    folder = f"user-7f3c2a/oom-{uuid.uuid4().hex[:8]}"
    keys = [f"{folder}/{name}" for name in ("5_0_vm.h5", "5_1_vm.h5", "5_batch_vm.h5")]
    direct = service_env(ingest_db, s3_endpoint, s3_bucket, INGEST_JOB_QUIET_S="5")
    env = {**direct, "MINIO_ENDPOINT": link.url, "MINIO_ADMIN_ENDPOINT": link.url}
    job = poison_a_job(ingest_db, s3_bucket, s3, post_event, link, env, keys)
    link.passes()  # the cause is gone (more memory for the workers, a fixed release)

    report = rescan_with(direct, monkeypatch, retry_failed=True)
    assert sorted(report.enqueued_keys) == keys
    with running(worker_process(direct)):
        rows = wait_until(all_settled(ingest_db, s3_bucket, keys, "ok"), what="the re-checks")
        summary = wait_until(
            lambda: (row := summary_row(ingest_db, job))["status"] == "ok" and row,
            what="the job analysed",
        )
    assert (summary["n_files"], summary["n_files_failed"], summary["error"]) == (3, 0, None)
    assert all((row["failure_kind"], row["error"]) == (None, None) for row in rows)
    assert [row[1] for row in job_files_of(ingest_db, job)] == ["ok"] * 3
    # a fresh analysis with a fresh count: it ran once, and its earlier kills did not count
    assert jobs_of(ingest_db, job) == [(JOB_TASK, "failed", 3), (JOB_TASK, "succeeded", 1)]
