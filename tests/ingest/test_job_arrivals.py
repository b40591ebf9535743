"""A Slurm job uploaded file by file: the gateway's events -> listener -> each file checked ->
ONE analysis of the job after the quiet period, with removals and bad files, all real."""

from __future__ import annotations

import uuid

import pytest

from tests.ingest.conftest import job_pipeline
from tests.ingest.support import EXAMPLES, fetch_all, object_row, summary_row, wait_until
from tests.support.slurm_synth import write_node_step_job

NODE_STEP = EXAMPLES / "nodestep"
JOB_5_FILES = ("5_0_vm.h5", "5_1_vm.h5", "5_batch_vm.h5")
JOB_5_ENERGY_J = 3150.0  # the node's true energy over the job, by the left rule (pipeline_core)
CORRUPT = b"\x89HDF\r\n\x1a\n" + b"not really hdf5" * 20
JOB_TASK = "ingest:analyse_job"


@pytest.fixture(scope="module")
def services(module_db, s3_endpoint):
    """Listener and worker on a bucket whose creations and removals the gateway pushes."""
    with job_pipeline(module_db, s3_endpoint, "jobs") as bucket:
        yield bucket


@pytest.fixture
def s3(s3_endpoint):
    return s3_endpoint.client()


@pytest.fixture
def folder(services) -> str:
    return f"user-7f3c2a/run-{uuid.uuid4().hex[:8]}"


def put(s3, bucket: str, key: str, data: bytes, benchmark: str | None = None) -> None:
    metadata = {"benchmark-name": benchmark} if benchmark else {}
    s3.put_object(Bucket=bucket, Key=key, Body=data, Metadata=metadata)


def put_job_5(s3, bucket: str, folder: str, names=JOB_5_FILES, benchmark=None) -> None:
    for name in names:
        put(s3, bucket, f"{folder}/{name}", (NODE_STEP / name).read_bytes(), benchmark)


def pending(db, bucket: str, folder: str) -> int:
    """Queue jobs waiting or running on the folder's objects or its jobs."""
    return fetch_all(
        db,
        "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
        " AND starts_with(lock, %s)",
        f"s3://{bucket}/{folder}/",
    )[0][0]


def live_rows(db, bucket: str, folder: str) -> list[tuple]:
    return fetch_all(
        db,
        "SELECT key, status FROM ingest_objects WHERE bucket = %s AND starts_with(key, %s)"
        " AND status <> 'removed' ORDER BY key",
        bucket,
        folder + "/",
    )


def settled(db, bucket: str, folder: str, job: str, *, files: int, status: str = "ok"):
    """The job's row once `files` objects are checked, nothing is queued or running any more,
    and the row has the status."""

    def check():
        rows = live_rows(db, bucket, folder)
        if len(rows) != files or any(s not in ("ok", "failed") for _, s in rows):
            return None
        if pending(db, bucket, folder):
            return None
        row = summary_row(db, job)
        return row if row and row["status"] == status else None

    return wait_until(check, timeout_s=90, what=f"{job} settled with {files} file(s)")


def job_file_statuses(db, job: str) -> dict[str, str]:
    rows = fetch_all(db, "SELECT file_name, status FROM job_files WHERE job_source = %s", job)
    return dict(rows)


def job_analyses(db, job: str) -> int:
    return fetch_all(
        db,
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s AND lock = %s",
        JOB_TASK,
        job,
    )[0][0]


def rows_under(db, folder: str) -> int:
    return fetch_all(db, "SELECT count(*) FROM job_summary WHERE starts_with(source, %s)",
                     f"s3://{folder}")[0][0]  # fmt: skip


def test_node_step_files_uploaded_one_by_one_are_one_job(services, module_db, s3, folder):
    bucket = services
    put_job_5(s3, bucket, folder, benchmark="hpl-64")
    job = f"s3://{bucket}/{folder}/job_5"

    row = settled(module_db, bucket, folder, job, files=3)
    assert row["energy_j"] == pytest.approx(JOB_5_ENERGY_J)
    assert (row["n_files"], row["n_files_failed"], row["owner"]) == (3, 0, "user-7f3c2a")
    assert (row["benchmark"], row["benchmark_set_by"]) == ("hpl-64", "upload")
    assert job_file_statuses(module_db, job) == dict.fromkeys(JOB_5_FILES, "ok")
    assert rows_under(module_db, f"{bucket}/{folder}/") == 1  # no row per file
    for name in JOB_5_FILES:
        obj = object_row(module_db, bucket, f"{folder}/{name}")
        assert (obj["status"], obj["error"], obj["job_source"]) == ("ok", None, job)
        assert obj["benchmark"] == "hpl-64"


def test_the_merged_twin_beside_its_node_step_files_is_the_same_job(
    services, module_db, s3, folder
):
    bucket = services
    put_job_5(s3, bucket, folder)
    put(s3, bucket, f"{folder}/job_5.h5", (EXAMPLES / "job_5.h5").read_bytes())
    job = f"s3://{bucket}/{folder}/job_5"

    row = settled(module_db, bucket, folder, job, files=4)
    assert row["energy_j"] == pytest.approx(JOB_5_ENERGY_J)
    assert row["benchmark"] is None
    assert rows_under(module_db, f"{bucket}/{folder}/") == 1
    assert object_row(module_db, bucket, f"{folder}/job_5.h5")["job_source"] == job


def test_a_removed_file_recomputes_the_job_and_the_last_one_removes_it(
    services, module_db, s3, folder
):
    bucket = services
    put_job_5(s3, bucket, folder)
    job = f"s3://{bucket}/{folder}/job_5"
    first = settled(module_db, bucket, folder, job, files=3)

    s3.delete_object(Bucket=bucket, Key=f"{folder}/5_1_vm.h5")
    again = settled(module_db, bucket, folder, job, files=2)
    assert again["n_files"] == 2
    assert again["analysed_at"] > first["analysed_at"]
    assert job_file_statuses(module_db, job) == {"5_0_vm.h5": "ok", "5_batch_vm.h5": "ok"}
    assert object_row(module_db, bucket, f"{folder}/5_1_vm.h5")["status"] == "removed"

    for name in ("5_0_vm.h5", "5_batch_vm.h5"):
        s3.delete_object(Bucket=bucket, Key=f"{folder}/{name}")
    gone = settled(module_db, bucket, folder, job, files=0, status="removed")
    assert gone["source"] == job


def test_a_corrupt_file_fails_with_its_reason_and_the_job_is_computed_from_the_rest(
    services, module_db, s3, folder
):
    bucket = services
    put_job_5(s3, bucket, folder)
    put(s3, bucket, f"{folder}/5_7_vm.h5", CORRUPT)
    job = f"s3://{bucket}/{folder}/job_5"

    row = settled(module_db, bucket, folder, job, files=4)
    assert row["energy_j"] == pytest.approx(JOB_5_ENERGY_J)
    assert (row["n_files"], row["n_files_failed"]) == (4, 1)
    bad = object_row(module_db, bucket, f"{folder}/5_7_vm.h5")
    assert (bad["status"], bad["failure_kind"], bad["job_source"]) == ("failed", "file", job)
    assert bad["error"] and "benchsuite-ingest" not in bad["error"]  # no download path
    assert job_file_statuses(module_db, job)["5_7_vm.h5"] == "failed"
    for name in JOB_5_FILES:
        assert object_row(module_db, bucket, f"{folder}/{name}")["status"] == "ok"


def test_twelve_arrivals_within_the_quiet_period_give_at_most_two_analyses(
    services, module_db, s3, folder, tmp_path
):
    bucket = services
    paths = write_node_step_job(tmp_path, job_id=812, n_nodes=12, duration_s=30)
    for path in paths:
        # one at a time, each checked before the next arrives: the job's analysis is queued
        # after the first check already, and each arrival moves it back
        key = f"{folder}/{path.name}"
        put(s3, bucket, key, path.read_bytes())
        wait_until(lambda key=key: (object_row(module_db, bucket, key) or {}).get("status") == "ok",
                   what=f"{key} checked")  # fmt: skip
    job = f"s3://{bucket}/{folder}/job_812"

    row = settled(module_db, bucket, folder, job, files=12)
    assert (row["n_files"], row["n_files_failed"]) == (12, 0)
    assert 1 <= job_analyses(module_db, job) <= 2
