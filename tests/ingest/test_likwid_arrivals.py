"""likwid-perfctr output uploaded beside a job's profiles, over the gateway's events: the job
is analysed again with its work figures (docs/jobs.md, LIKWID files beside a job)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.ingest.conftest import job_pipeline
from tests.ingest.support import object_row, summary_row, wait_until
from tests.ingest.test_job_arrivals import (
    JOB_5_ENERGY_J,
    job_file_statuses,
    pending,
    put,
    put_job_5,
    settled,
)

LIKWID = Path(__file__).resolve().parents[1] / "data" / "likwid" / "flops_dp_1thread.csv"
GFLOP = 67628.4780 * 100.1028 / 1000  # DP [MFLOP/s] x Runtime (RDTSC) [s] of the file
CSV_NAME = "mybench/job_5/flops_5.csv"  # the origin's client's layout


@pytest.fixture(scope="module")
def services(module_db, s3_endpoint):
    with job_pipeline(module_db, s3_endpoint, "likwid", suffix=(".h5", ".csv")) as bucket:
        yield bucket


@pytest.fixture
def s3(s3_endpoint):
    return s3_endpoint.client()


@pytest.fixture
def folder(services) -> str:
    return f"user-7f3c2a/run-{uuid.uuid4().hex[:8]}"


def with_work(db, bucket: str, folder: str, job: str):
    def check():
        row = summary_row(db, job)
        if row is None or row["work_source"] is None or pending(db, bucket, folder):
            return None
        return row

    return wait_until(check, timeout_s=90, what=f"{job} analysed with its LIKWID file")


def test_likwid_file_after_the_profiles_fills_the_work(services, module_db, s3, folder):
    bucket = services
    job = f"s3://{bucket}/{folder}/job_5"
    put_job_5(s3, bucket, folder)
    before = settled(module_db, bucket, folder, job, files=3)
    assert before["gflop"] is None and before["work_source"] is None

    put(s3, bucket, f"{folder}/{CSV_NAME}", LIKWID.read_bytes())
    row = with_work(module_db, bucket, folder, job)
    assert row["energy_j"] == pytest.approx(JOB_5_ENERGY_J)  # unchanged by the work
    assert (row["work_source"], row["work_group"]) == ("likwid", "FLOPS_DP")
    assert row["gflop"] == pytest.approx(GFLOP)
    assert row["energy_per_gflop_j"] == pytest.approx(JOB_5_ENERGY_J / GFLOP)
    assert row["gflops_per_w"] == pytest.approx(GFLOP / JOB_5_ENERGY_J)
    assert (row["n_files"], row["n_files_failed"]) == (3, 0)  # profiles only
    assert job_file_statuses(module_db, job)[CSV_NAME] == "ok"
    csv = object_row(module_db, bucket, f"{folder}/{CSV_NAME}")
    assert (csv["status"], csv["job_source"]) == ("ok", job)


def test_likwid_file_before_the_profiles_is_picked_up_by_the_job(services, module_db, s3, folder):
    bucket = services
    job = f"s3://{bucket}/{folder}/job_5"
    put(s3, bucket, f"{folder}/{CSV_NAME}", LIKWID.read_bytes())
    wait_until(
        lambda: (object_row(module_db, bucket, f"{folder}/{CSV_NAME}") or {}).get("status") == "ok",
        timeout_s=60,
        what="the LIKWID file recorded",
    )
    assert summary_row(module_db, job) is None  # no job to analyse yet

    put_job_5(s3, bucket, folder)
    row = with_work(module_db, bucket, folder, job)
    assert row["gflop"] == pytest.approx(GFLOP)
    assert object_row(module_db, bucket, f"{folder}/{CSV_NAME}")["job_source"] == job


def test_a_garbled_likwid_file_is_failed_with_its_reason(services, module_db, s3, folder):
    bucket = services
    job = f"s3://{bucket}/{folder}/job_5"
    put_job_5(s3, bucket, folder)
    settled(module_db, bucket, folder, job, files=3)
    put(s3, bucket, f"{folder}/{CSV_NAME}", b"TABLE,Group 1 Metric,FLOPS_DP,nine\n")
    row = with_work(module_db, bucket, folder, job)
    assert row["status"] == "ok" and row["energy_j"] == pytest.approx(JOB_5_ENERGY_J)
    assert row["gflop"] is None
    assert row["work_note"].startswith(f"{CSV_NAME}: not likwid-perfctr CSV output: ")
    csv = object_row(module_db, bucket, f"{folder}/{CSV_NAME}")
    assert csv["status"] == "failed"
    assert row["work_note"] == f"{CSV_NAME}: {csv['error']}"
