"""The worker's HTTP endpoint: /metrics after real jobs, /healthz and /readyz; the probes' rules."""

from __future__ import annotations

import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from analysis_module.worker.health import Health
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
from tests.support.net import free_port, wait_for_http

ANALYSE = "ingest:analyse_object"
CORRUPT = b"\x89HDF\r\n\x1a\n" + b"not really hdf5" * 20


def scrape(base_url: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics: (name, labels) -> value."""
    response = httpx.get(f"{base_url}/metrics", timeout=5)
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def jobs(samples: dict, outcome: str) -> float | None:
    return sample(samples, "ingest_worker_jobs_total", task=ANALYSE, outcome=outcome)


@pytest.fixture
def s3(s3_endpoint):
    return s3_endpoint.client()


def test_metrics_and_probes_after_one_good_and_one_corrupt_profile(
    ingest_db, s3_endpoint, s3, post_event
):
    bucket = s3_endpoint.new_bucket("metrics")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = service_env(
        ingest_db,
        s3_endpoint,
        bucket,
        WORKER_METRICS_HOST="127.0.0.1",
        WORKER_METRICS_PORT=str(port),
    )
    worker = worker_process(env)
    with running(listener_process(env)) as listener, running(worker):
        wait_for_http(f"{base_url}/healthz", is_alive=worker.alive)
        before = scrape(base_url)
        assert (jobs(before, "ok"), jobs(before, "failed")) == (0, 0)

        good, bad = profile_bytes("job_4.h5"), CORRUPT
        keys = {}
        for name, data, status in (("job_4.h5", good, "ok"), ("broken.h5", bad, "failed")):
            key = f"user-7f3c2a/{uuid.uuid4().hex[:8]}/{own_name(name)}"
            etag = upload(s3, bucket, key, data)
            body = minio_event(bucket, key, etag=etag, size=len(data))
            assert post_event(listener.base_url, body).status_code == 200
            keys[key] = status
        for key, status in keys.items():
            wait_until(lambda k=key, s=status: object_row(ingest_db, bucket, k)["status"] == s)

        def counted():
            # the counters move just after the job wrote its status
            samples = scrape(base_url)
            return samples if jobs(samples, "ok") == 1 == jobs(samples, "failed") else None

        samples = wait_until(counted, timeout_s=10, what="the ok and failed counters")
        for outcome in ("retried", "superseded", "removed"):
            assert jobs(samples, outcome) == 0, outcome
        assert sample(samples, "ingest_worker_analysis_seconds_count") == 2
        assert sample(samples, "ingest_worker_download_seconds_count") == 2
        assert sample(samples, "ingest_worker_download_bytes_sum") == len(good) + len(bad)
        for status in ("todo", "doing"):
            assert sample(samples, "ingest_queue_jobs", status=status) is not None, status
        for status in ("queued", "running", "ok", "failed", "removed"):
            assert sample(samples, "ingest_objects", status=status) is not None, status

        healthz = httpx.get(f"{base_url}/healthz", timeout=5)
        assert (healthz.status_code, healthz.json()) == (200, {"status": "ok"})
        readyz = httpx.get(f"{base_url}/readyz", timeout=5)
        assert (readyz.status_code, readyz.json()) == (200, {"status": "ready"})
        assert httpx.get(f"{base_url}/nothing", timeout=5).status_code == 404


def test_a_one_file_job_is_downloaded_once_for_its_check_and_its_analysis(
    ingest_db, s3_endpoint, s3, post_event
):
    bucket = s3_endpoint.new_bucket("metrics")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = service_env(
        ingest_db,
        s3_endpoint,
        bucket,
        INGEST_JOB_QUIET_S="0.5",
        WORKER_METRICS_HOST="127.0.0.1",
        WORKER_METRICS_PORT=str(port),
    )
    worker = worker_process(env)
    with running(listener_process(env)) as listener, running(worker):
        wait_for_http(f"{base_url}/healthz", is_alive=worker.alive)
        data = profile_bytes("job_4.h5")
        key = f"user-7f3c2a/{uuid.uuid4().hex[:8]}/job_4.h5"  # a merged Slurm job: job 4
        etag = upload(s3, bucket, key, data)
        body = minio_event(bucket, key, etag=etag, size=len(data))
        assert post_event(listener.base_url, body).status_code == 200
        job = f"s3://{bucket}/{key.removesuffix('.h5')}"
        row = wait_until(lambda: summary_row(ingest_db, job), what="the job's row")
        assert (row["status"], row["n_files"]) == ("ok", 1)

        def counted():
            samples = scrape(base_url)
            done = sample(
                samples, "ingest_worker_jobs_total", task="ingest:analyse_job", outcome="ok"
            )
            return samples if done == 1 else None

        samples = wait_until(counted, timeout_s=10, what="the job's counter")
        # the check's GET; the analysis took the checked content from the worker's copy
        assert sample(samples, "ingest_worker_download_seconds_count") == 1
        assert sample(samples, "ingest_worker_download_bytes_sum") == len(data)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_liveness_fails_after_three_missed_heartbeats():
    clock = Clock()
    health = Health(heartbeat_s=5, db_check_s=15, clock=clock)
    clock.now += 15
    assert health.alive() is None
    clock.now += 0.5
    assert "silent for 16 s" in health.alive()
    health.beat()
    assert health.alive() is None


def test_readiness_needs_a_recent_successful_database_check():
    clock = Clock()
    health = Health(heartbeat_s=5, db_check_s=15, clock=clock)
    assert health.ready() == "no database check yet"
    health.database_checked()
    assert health.ready() is None
    clock.now += 45
    assert health.ready() is None
    clock.now += 1
    assert "46 s ago" in health.ready()
    health.database_checked("database unreachable: connection refused")
    assert health.ready() == "database unreachable: connection refused"
    health.database_checked()
    assert health.ready() is None
