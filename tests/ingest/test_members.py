"""Which objects are files of a Slurm job, and what their uploads say."""

from __future__ import annotations

from analysis_module.ingest.members import check_file, job_benchmark, job_of, upload_benchmark
from tests.ingest.support import EXAMPLES


def test_node_step_and_merged_files_belong_to_their_folders_job():
    assert job_of("s3://b/alice/run1/5_0_vm.h5") == "s3://b/alice/run1/job_5"
    assert job_of("s3://b/alice/run1/job_5.h5") == "s3://b/alice/run1/job_5"
    assert job_of("s3://b/alice/run1/upload job_5.h5") is None  # follows no pattern


def test_the_upload_benchmark_is_taken_only_as_the_api_would_accept_it():
    assert upload_benchmark({"benchmark-name": "hpl-64"}) == "hpl-64"
    assert upload_benchmark({"benchmark-name": "x" * 129}) is None
    assert upload_benchmark({"benchmark-name": "a b"}) is None
    assert upload_benchmark({}) is None
    assert upload_benchmark(None) is None


def test_the_jobs_benchmark_is_what_most_of_its_files_say():
    assert job_benchmark(["hpl", None, "stream", "hpl"]) == "hpl"
    assert job_benchmark(["stream", "hpl"]) == "stream"  # a tie: the first file's
    assert job_benchmark([None, None]) is None


def test_the_check_names_a_bad_file_by_its_label(tmp_path):
    bad = tmp_path / "object.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"broken" * 40)
    reason = check_file(bad, None, "run1/5_7_vm.h5")
    assert reason and "run1/5_7_vm.h5" in reason and str(tmp_path) not in reason
    assert check_file(EXAMPLES / "nodestep" / "5_0_vm.h5", None, "5_0_vm.h5") is None
