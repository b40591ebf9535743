"""A DuckDB results file written before a metric existed takes new analyses with that metric."""

from __future__ import annotations

import duckdb

from analysis_module.app.runner import build_runner
from analysis_module.pipeline_core.schema import JOB_SUMMARY
from analysis_module.settings import AnalysisSettings


def test_a_file_without_task_sentinel_values_gains_the_column(tmp_path, examples_dir):
    path = tmp_path / "results.duckdb"
    runner = build_runner(AnalysisSettings(DUCKDB_PATH=path))
    runner.close()
    with duckdb.connect(str(path)) as con:  # as the previous version left it
        for table in ("job_summary", "job_step_node"):
            con.execute(f"ALTER TABLE {table} DROP COLUMN task_sentinel_values")
        for field in JOB_SUMMARY.names[JOB_SUMMARY.names.index("task_sentinel_values") + 1 :]:
            con.execute(f"ALTER TABLE job_summary DROP COLUMN {field}")  # added since
        con.execute("DROP TABLE job_files")
    runner = build_runner(AnalysisSettings(DUCKDB_PATH=path))
    try:
        outcome = runner.analyse_file(examples_dir / "job_5.h5", source="job_5.h5")
        assert outcome.status == "ok", outcome.error
        rows = runner.sink.con.execute(
            "SELECT energy_j, task_sentinel_values FROM job_summary WHERE source = 'job_5.h5'"
        ).fetchall()
    finally:
        runner.close()
    assert rows == [(outcome.summary["energy_j"], outcome.summary["task_sentinel_values"])]
    assert rows[0][1] is not None
