"""Arrow rows of job_summary, job_step_node and job_files (pipeline_core/records.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from analysis_module.pipeline_core.records import breakdown_table, files_table, summary_table
from analysis_module.pipeline_core.schema import JOB_FILES, JOB_STEP_NODE, JOB_SUMMARY

T0 = 1_790_000_000
WHEN = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def metrics(**extra) -> dict:
    return {
        "has_energy": True,
        "power_source": "NodePower",
        "start_time": T0,
        "end_time": T0 + 60,
        "energy_j": 6000.0,
        "n_nodes": 2,
        **extra,
    }


def test_a_successful_summary_row_holds_the_metrics_and_real_times():
    table = summary_table(
        source="s3://b/user-1/job_7.h5",
        status="ok",
        job_id="7",
        owner="user-1",
        integration="trapezoid",
        metrics=metrics(),
        analysed_at=WHEN,
        n_files=1,
        n_files_failed=0,
    )
    assert table.schema == JOB_SUMMARY
    (row,) = table.to_pylist()
    assert (row["source"], row["job_id"], row["owner"], row["status"]) == (
        "s3://b/user-1/job_7.h5",
        "7",
        "user-1",
        "ok",
    )
    assert row["start_time"] == datetime.fromtimestamp(T0, tz=UTC)
    assert row["end_time"] == datetime.fromtimestamp(T0 + 60, tz=UTC)
    assert (row["energy_j"], row["n_nodes"], row["has_energy"]) == (6000.0, 2, True)
    assert row["integration"] == "trapezoid"
    assert row["analysed_at"] == WHEN
    assert row["cost_eur"] is None  # a metric not given stays null


def test_summed_xcc_energy_records_sum_as_its_rule():
    (row,) = summary_table(
        source="j", status="ok", integration="left", metrics=metrics(power_source="Energy")
    ).to_pylist()
    assert row["integration"] == "sum"


def test_a_failed_summary_has_its_error_and_no_metrics():
    (row,) = summary_table(
        source="j", status="failed", error="truncated HDF5 file", integration="left"
    ).to_pylist()
    assert (row["status"], row["error"]) == ("failed", "truncated HDF5 file")
    assert row["has_energy"] is None and row["energy_j"] is None and row["start_time"] is None
    assert row["integration"] == "left"


def test_a_time_that_is_no_real_time_becomes_null():
    (row,) = summary_table(source="j", status="ok", metrics=metrics(start_time=0)).to_pylist()
    assert row["start_time"] is None
    assert row["end_time"] == datetime.fromtimestamp(T0 + 60, tz=UTC)


def test_breakdown_rows_keep_level_step_and_node():
    table = breakdown_table(
        "j",
        [
            {"level": "step_node", "step": "0", "node": "n1", **metrics(energy_j=1.0)},
            {"level": "step", "step": "0", "node": None, **metrics(energy_j=2.0)},
            {"level": "node", "step": None, "node": "n1", **metrics(energy_j=3.0)},
        ],
    )
    assert table.schema == JOB_STEP_NODE
    rows = table.to_pylist()
    assert [(r["source"], r["level"], r["step"], r["node"], r["energy_j"]) for r in rows] == [
        ("j", "step_node", "0", "n1", 1.0),
        ("j", "step", "0", None, 2.0),
        ("j", "node", None, "n1", 3.0),
    ]


def test_files_rows_belong_to_their_job():
    file = {
        "file_source": "s3://b/u/7_0_n1.h5",
        "file_name": "7_0_n1.h5",
        "role": "node_step",
        "etag": "abc",
        "step": "0",
        "node": "n1",
        "status": "ok",
        "error": None,
    }
    table = files_table("s3://b/u/job_7", [file], analysed_at=WHEN)
    assert table.schema == JOB_FILES
    assert table.to_pylist() == [{"job_source": "s3://b/u/job_7", **file, "analysed_at": WHEN}]
