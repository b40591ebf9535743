"""Which objects are files of a Slurm job, and what their uploads say."""

from __future__ import annotations

from analysis_module.ingest.members import (
    check_file,
    job_benchmark,
    job_of,
    job_work,
    upload_benchmark,
    upload_work,
)
from analysis_module.pipeline_core.ingest_objects import ObjectRow, Status
from tests.ingest.support import EXAMPLES


def member(name: str, work: str | None) -> ObjectRow:
    key = f"alice/run1/{name}"
    return ObjectRow("b", key, f"s3://b/{key}", "alice", "e1", None, 1, Status.OK, 1, None,
                     job_source="s3://b/alice/run1/job_5", work=work)  # fmt: skip


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


def test_the_upload_work_is_kept_as_given_on_one_line():
    assert upload_work({"work": "GFLOP/s=1234"}) == "GFLOP/s=1234"
    assert upload_work({"work": " GB/s =\t180 "}) == "GB/s = 180"
    assert upload_work({"work": "not a figure"}) == "not a figure"  # judged with its job
    assert upload_work({"work": "  "}) is None
    assert upload_work({"benchmark-name": "hpl"}) is None
    assert upload_work(None) is None


def test_the_jobs_work_is_what_most_of_its_files_say():
    rows = [
        member("5_0_a.h5", "GFLOP/s=10"),
        member("5_0_b.h5", "GB/s=180"),
        member("5_1_a.h5", "GFLOP/s=10.0"),  # the same figure, written otherwise
        member("5_batch_a.h5", None),
    ]
    work, note = job_work(rows)
    assert work == ("GFLOP/s", 10.0)
    assert note == (
        "the files' uploads give 2 different figures of merit; GFLOP/s=10, given by 2 of 3, is used"
    )


def test_a_tie_between_the_files_goes_to_the_first_in_key_order():
    work, note = job_work([member("5_0_a.h5", "GB/s=180"), member("5_1_a.h5", "GFLOP/s=10")])
    assert work == ("GB/s", 180.0)
    assert "2 different figures of merit; GB/s=180, given by 1 of 2" in note


def test_files_that_agree_give_the_figure_without_a_note():
    rows = [member("5_0_a.h5", "GFLOP=500"), member("5_1_a.h5", "GFLOP=500")]
    assert job_work(rows) == (("GFLOP", 500.0), None)
    assert job_work([member("5_0_a.h5", None)]) == (None, None)


def test_a_garbled_upload_work_is_left_out_with_its_reason():
    rows = [member("5_0_a.h5", "GFLOP/s=fast"), member("5_1_a.h5", "GFLOP/s=12")]
    work, note = job_work(rows)
    assert work == ("GFLOP/s", 12.0)
    assert note == "5_0_a.h5: the upload's work is ignored: work GFLOP/s: 'fast' is not a number"
    work, note = job_work([member("5_0_a.h5", "lots")])
    assert work is None and note.startswith("5_0_a.h5: the upload's work is ignored: work 'lots'")


def test_the_check_names_a_bad_file_by_its_label(tmp_path):
    bad = tmp_path / "object.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"broken" * 40)
    reason = check_file(bad, None, "run1/5_7_vm.h5")
    assert reason and "run1/5_7_vm.h5" in reason and str(tmp_path) not in reason
    assert check_file(EXAMPLES / "nodestep" / "5_0_vm.h5", None, "5_0_vm.h5") is None
