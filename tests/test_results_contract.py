"""The API reads the tables the analysis publishes: its column lists are the analysis schema's.

`api_backend` and `analysis_module` never import each other, so the analysis schema is read
here as data: the column names in `pipeline_core/schema.py`, parsed from its source text.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from api_backend.jobs.repository import (
    HEADLINE_COLUMNS,
    JOB_COLUMNS,
    JOB_FILE_COLUMNS,
    METRIC_COLUMNS,
    SHARED_TABLES,
    TIMESERIES_COLUMNS,
    WORK_COLUMNS,
)

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "analysis_module/pipeline_core/schema.py"


def _field_names(node: ast.AST, known: dict[str, list[str]]) -> list[str]:
    """The names of the `pa.field("name", ...)` calls in `node`, `*LIST` spliced in, in order."""
    if isinstance(node, ast.Starred) and isinstance(node.value, ast.Name):
        return known[node.value.id]
    if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "field":
        return [ast.literal_eval(node.args[0])]
    if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "schema":
        return _field_names(node.args[0], known)
    if isinstance(node, ast.List):
        return [name for item in node.elts for name in _field_names(item, known)]
    return []


def analysis_columns() -> dict[str, list[str]]:
    """Each module-level layout of schema.py (`JOB_SUMMARY`, ...) and its column names."""
    layouts: dict[str, list[str]] = {}
    for statement in ast.parse(SCHEMA_FILE.read_text()).body:
        if isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None:
            target = statement.targets[0] if isinstance(statement, ast.Assign) else statement.target
            if isinstance(target, ast.Name):
                layouts[target.id] = _field_names(statement.value, layouts)
    return layouts


def test_the_schema_is_read_as_the_analysis_writes_it():
    layouts = analysis_columns()
    assert layouts["JOB_SUMMARY"][:2] == ["source", "job_id"]
    assert layouts["JOB_STEP_NODE"][:4] == ["source", "level", "step", "node"]
    assert len(layouts["METRIC_FIELDS"]) > 20


def test_metric_columns_are_the_analysis_metrics_in_order():
    assert list(METRIC_COLUMNS) == analysis_columns()["METRIC_FIELDS"]


def test_job_summary_and_step_node_hold_every_column_the_api_selects():
    layouts = analysis_columns()
    summary, step_node = set(layouts["JOB_SUMMARY"]), set(layouts["JOB_STEP_NODE"])
    assert set(HEADLINE_COLUMNS) <= summary
    assert set(METRIC_COLUMNS) <= summary & step_node
    assert {"level", "step", "node"} <= step_node
    assert {"source", "owner", "status", "table_name"} <= summary
    assert set(JOB_COLUMNS) <= summary


def test_job_columns_are_the_ones_migration_0005_appends_in_order():
    summary = analysis_columns()["JOB_SUMMARY"]
    first = summary.index(JOB_COLUMNS[0])
    assert summary[first : first + len(JOB_COLUMNS)] == list(JOB_COLUMNS)
    assert first > summary.index("task_sentinel_values")  # after the metrics


def test_job_file_columns_are_job_files_without_its_key():
    assert ["job_source", *JOB_FILE_COLUMNS] == analysis_columns()["JOB_FILES"]


def test_timeseries_columns_are_the_per_job_table_in_order():
    assert list(TIMESERIES_COLUMNS) == analysis_columns()["JOB_TIMESERIES"]


def test_shared_tables_are_the_tables_the_analysis_migrations_create():
    migrations = SCHEMA_FILE.parents[1] / "migrations" / "versions"
    created = set()
    for script in migrations.glob("*.py"):
        created |= set(re.findall(r"CREATE TABLE (?:\w+\.)?(\w+)", script.read_text()))
    assert created >= SHARED_TABLES
    assert {"job_summary", "job_step_node", "job_files"} <= SHARED_TABLES
    # every shared table the migrations create whose name a per-job table could have
    assert {name for name in created if name.startswith("job_")} <= SHARED_TABLES


def test_work_columns_are_the_analysis_work_fields_after_the_job_columns():
    layouts = analysis_columns()
    assert list(WORK_COLUMNS) == layouts["WORK_FIELDS"]
    summary = layouts["JOB_SUMMARY"]
    assert summary.index(WORK_COLUMNS[0]) > summary.index(JOB_COLUMNS[-1])
