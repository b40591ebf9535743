"""Per-job table names: the legacy layout's `job_<stem>`, always valid, never shared."""

from __future__ import annotations

import pytest

from analysis_module.pipeline_core.naming import (
    base_table_name,
    is_valid_table_name,
    table_name_for,
)


@pytest.mark.parametrize(
    ("stem", "expected"),
    [("job_5", "job_5"), ("5_0_vm", "job_5_0_vm"), ("Run 2026 (rerun)", "job_run_2026_rerun")],
)
def test_base_names(stem, expected):
    assert base_table_name(stem) == expected


@pytest.mark.parametrize("stem", ["summary", "step_node", "job_summary", "JOB_STEP_NODE"])
def test_shared_table_names_are_never_used(stem):
    name = base_table_name(stem)
    assert name not in {"job_summary", "job_step_node"} and is_valid_table_name(name)


def test_long_and_hostile_stems_stay_valid_identifiers():
    for stem in ("x" * 300, "é" * 80, '"; DROP TABLE job_summary; --', "ü/../..\\0"):
        name = base_table_name(stem)
        assert is_valid_table_name(name) and len(name.encode()) <= 63


def test_second_source_with_the_same_stem_gets_its_own_stable_name():
    owners = {"job_5": "/a/job_5.h5"}
    first = table_name_for("/a/job_5.h5", owners.get)
    second = table_name_for("/b/job_5.h5", owners.get)
    assert first == "job_5" and second.startswith("job_5_") and second != first
    assert table_name_for("/b/job_5.h5", owners.get) == second
