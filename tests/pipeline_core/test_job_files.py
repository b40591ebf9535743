"""Which job a file belongs to, from its name and folder alone."""

from __future__ import annotations

import pytest

from analysis_module.pipeline_core.job_files import (
    FileName,
    job_source,
    likwid_job_id,
    likwid_job_keys,
    parse_file_name,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("5_0_vm.h5", FileName("node_step", "5", "0", "vm")),
        ("5_batch_vm.h5", FileName("node_step", "5", "batch", "vm")),
        ("5_4294967292_vm.h5", FileName("node_step", "5", "-4", "vm")),  # extern
        ("5_4294967290_vm.h5", FileName("node_step", "5", "-6", "vm")),  # interactive
        ("123_12_gpu_node-07.h5", FileName("node_step", "123", "12", "gpu_node-07")),
        ("job_5.h5", FileName("merged", "5")),
        ("job_005.h5", FileName("merged", "5")),
        ("5_0_vm.H5", FileName("node_step", "5", "0", "vm")),
        ("profile.h5", FileName("single", None)),
        ("5_x_vm.h5", FileName("single", None)),  # a step is a number or a known name
        ("5_0_.h5", FileName("single", None)),  # no node
        ("5_99999999999_vm.h5", FileName("single", None)),  # not a uint32 step
        ("5_0_vm.csv", FileName("single", None)),
    ],
)
def test_file_names_say_job_step_and_node(name, expected):
    assert parse_file_name(name) == expected


def test_node_step_files_and_their_merged_twin_share_the_folders_job_key():
    assert job_source("s3://b/alice/run/5_0_n1.h5") == "s3://b/alice/run/job_5"
    assert job_source("s3://b/alice/run/job_5.h5") == "s3://b/alice/run/job_5"
    assert job_source("/data/x/5_batch_n1.h5") == "/data/x/job_5"
    # another folder is another job; a name that follows no pattern is its own job
    assert job_source("s3://b/bob/run/5_0_n1.h5") == "s3://b/bob/run/job_5"
    assert job_source("s3://b/alice/run/profile.h5") == "s3://b/alice/run/profile.h5"


@pytest.mark.parametrize(
    ("source", "job"),
    [
        ("s3://b/u/stream/job_5/flops_5.csv", "5"),
        ("s3://b/u/job_7/anything.csv", "7"),
        ("/data/flops_17.csv", "17"),
        ("/data/17.csv", "17"),
        ("/data/17_mem.csv", "17"),
        ("/data/notes.csv", None),
        ("/data/flops_5.txt", None),
    ],
)
def test_likwid_files_name_their_job_by_folder_or_name(source, job):
    assert likwid_job_id(source) == job


def test_likwid_files_look_for_their_job_in_their_folder_then_above():
    keys = likwid_job_keys("s3://b/u/stream/job_5/flops_5.csv", "5")
    assert keys == [
        "s3://b/u/stream/job_5/job_5",
        "s3://b/u/stream/job_5",
        "s3://b/u/job_5",  # where the origin's client puts the node-step files
        "s3://b/job_5",
    ]
    assert likwid_job_keys("/data/x/5.csv", "5") == ["/data/x/job_5", "/data/job_5"]
