"""A figure of merit given on upload (`{"work": ...}` to the API, `x-amz-meta-work` on the
object) reaches the job's work columns: through the API's presigned URL and the gateway's
events, and through a rescan of objects whose events never came."""

from __future__ import annotations

import uuid

import httpx
import pytest

from analysis_module.app.ingest_setup import rescan
from tests.api.conftest import API_UVICORN_ARGS, api_env, register
from tests.ingest.conftest import job_pipeline, running, service_env, worker_process
from tests.ingest.support import object_row
from tests.ingest.test_job_arrivals import (
    JOB_5_ENERGY_J,
    JOB_5_FILES,
    NODE_STEP,
    settled,
)
from tests.ingest.test_rescan import settings_for
from tests.support.servers import AppProcess

GFLOP = 5000.0


@pytest.fixture(scope="module")
def services(module_db, s3_endpoint):
    """The API, the listener and a worker on one bucket whose creations the gateway pushes."""
    with job_pipeline(module_db, s3_endpoint, "work") as bucket:
        api = AppProcess(
            "api_backend.main:app",
            api_env(module_db, s3_endpoint, bucket),
            extra_args=API_UVICORN_ARGS,
        )
        with api:
            yield bucket, api.base_url


def upload_through_the_api(http: httpx.Client, account, name: str, body: dict) -> str:
    answer = http.post(
        "/storage/presign/upload",
        params={"object_name": name},
        json=body,
        headers=account.headers,
    )
    assert answer.status_code == 200, answer.text
    presigned = answer.json()
    data = (NODE_STEP / name.rpartition("/")[2]).read_bytes()
    stored = httpx.put(presigned["url"], content=data, headers=presigned["headers"])
    assert stored.status_code == 200, stored.text
    return presigned["key"]


def test_work_given_on_upload_fills_the_jobs_work_columns(services, module_db):
    bucket, api_url = services
    run = f"run-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=api_url, timeout=30.0) as http:
        account = register(http)
        body = {"benchmark_name": "hpl", "work": f"GFLOP={GFLOP:g}"}
        keys = [upload_through_the_api(http, account, f"{run}/{n}", body) for n in JOB_5_FILES]
    folder = f"{account.user['namespace']}/{run}"
    job = f"s3://{bucket}/{folder}/job_5"

    row = settled(module_db, bucket, folder, job, files=3)
    assert row["energy_j"] == pytest.approx(JOB_5_ENERGY_J)
    assert (row["benchmark"], row["work_source"]) == ("hpl", "given")
    assert (row["work_unit"], row["work_value"]) == ("GFLOP", GFLOP)
    assert row["gflop"] == pytest.approx(GFLOP)
    assert row["energy_per_gflop_j"] == pytest.approx(3150.0 / 5000.0)  # 0.63 J per GFLOP
    assert row["gflops_per_w"] == pytest.approx(5000.0 / 3150.0)
    assert row["gflops"] == pytest.approx(GFLOP / row["time_to_solution_s"])
    cost_eur = 3150.0 / 3.6e6 * 0.30  # FLAT_PRICE_EUR_PER_KWH of the services
    assert row["cost_eur"] == pytest.approx(cost_eur)
    assert row["eur_per_gflop"] == pytest.approx(cost_eur / 5000.0)
    assert row["work_note"] is None
    for key in keys:
        assert object_row(module_db, bucket, key)["work"] == "GFLOP=5000"


def test_a_garbled_upload_work_leaves_the_energy_figures_alone(services, module_db, s3_endpoint):
    bucket, _ = services
    folder = f"user-7f3c2a/run-{uuid.uuid4().hex[:8]}"
    s3 = s3_endpoint.client()
    for name in JOB_5_FILES:  # straight to the store, past the API's check
        data = (NODE_STEP / name).read_bytes()
        s3.put_object(Bucket=bucket, Key=f"{folder}/{name}", Body=data, Metadata={"work": "lots"})
    job = f"s3://{bucket}/{folder}/job_5"

    row = settled(module_db, bucket, folder, job, files=3)
    assert row["energy_j"] == pytest.approx(JOB_5_ENERGY_J)
    assert row["work_source"] == "given"
    assert (row["work_unit"], row["gflop"], row["energy_per_gflop_j"]) == (None, None, None)
    assert row["work_note"].startswith(
        "5_0_vm.h5: the upload's work is ignored: work 'lots' is not UNIT=VALUE"
    )
    assert object_row(module_db, bucket, f"{folder}/5_0_vm.h5")["work"] == "lots"


def test_a_rescan_reads_the_work_of_objects_whose_events_never_came(
    ingest_db, s3_endpoint, s3_bucket, monkeypatch
):
    env = service_env(ingest_db, s3_endpoint, s3_bucket, INGEST_JOB_QUIET_S="1")
    folder = f"user-7f3c2a/run-{uuid.uuid4().hex[:8]}"
    s3 = s3_endpoint.client()
    for name in JOB_5_FILES:
        data = (NODE_STEP / name).read_bytes()
        key = f"{folder}/{name}"
        s3.put_object(Bucket=s3_bucket, Key=key, Body=data, Metadata={"work": "GFLOP/s=2.5"})
    assert rescan(settings_for(env, monkeypatch)).enqueued == 3

    with running(worker_process(env)):
        row = settled(ingest_db, s3_bucket, folder, f"s3://{s3_bucket}/{folder}/job_5", files=3)
    assert (row["work_unit"], row["work_value"]) == ("GFLOP/s", 2.5)
    assert row["gflop"] == pytest.approx(2.5 * row["time_to_solution_s"])
    assert row["energy_per_gflop_j"] == pytest.approx(row["energy_j"] / row["gflop"])
    assert object_row(ingest_db, s3_bucket, f"{folder}/5_0_vm.h5")["work"] == "GFLOP/s=2.5"
