"""Which job a file belongs to, from its name (docs/jobs.md)."""

from __future__ import annotations

import pytest

from analysis_module.pipeline_core.job_files import FileName, job_source, parse_file_name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("5_batch_vm.h5", FileName("node_step", "5", "batch", "vm")),
        ("5_0_vm.h5", FileName("node_step", "5", "0", "vm")),
        ("007_12_node_a-1.h5", FileName("node_step", "7", "12", "node_a-1")),
        ("5_4294967292_n1.h5", FileName("node_step", "5", "-4", "n1")),  # extern
        ("5_extern_n1.h5", FileName("node_step", "5", "-4", "n1")),
        ("5_4294967290_n1.h5", FileName("node_step", "5", "-6", "n1")),  # interactive
        ("job_5.h5", FileName("merged", "5")),
        ("job_005.h5", FileName("merged", "5")),
        ("run.h5", FileName("single", None)),
        ("5_0_vm.txt", FileName("single", None)),
        ("5_0.h5", FileName("single", None)),
        ("5_4294967296_n1.h5", FileName("single", None)),  # not a uint32
        ("job_x.h5", FileName("single", None)),
    ],
)
def test_file_names(name, expected):
    assert parse_file_name(name) == expected


def test_job_source_is_the_folder_and_job_id():
    assert job_source("/data/alice/5_0_vm.h5") == "/data/alice/job_5"
    assert job_source("/data/alice/job_5.h5") == "/data/alice/job_5"
    assert job_source("s3://b/alice/run 1/5_batch_vm.h5") == "s3://b/alice/run 1/job_5"
    assert job_source("s3://b/alice/other.h5") == "s3://b/alice/other.h5"
    assert job_source("5_0_vm.h5") == "job_5"
    assert job_source("/a/5_0_vm.h5") != job_source("/b/5_0_vm.h5")
