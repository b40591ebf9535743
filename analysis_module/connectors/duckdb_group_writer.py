"""Several finished small jobs written in one transaction (`DuckDBSink.write_jobs`).

A small job's write is dominated by fixed costs: DuckDB pays a few milliseconds per insert
statement whatever its row count (more for wide tables), PostgreSQL a round trip per
statement, and each COMMIT reaches the disk. A group pays them once: one lookup of the old
rows, one script of deletes, row inserts and views, one insert of all the samples, one
COMMIT. Readers see the whole group at once, or, until the COMMIT, the results before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from analysis_module.connectors.duckdb_sql import LOOKUP_CHUNK, RESULTS_SCHEMA, bind, insert_values
from analysis_module.pipeline_core.schema import JOB_SAMPLES, JOB_TIMESERIES
from analysis_module.pipeline_core.sink import FinishedJob

if TYPE_CHECKING:
    from analysis_module.connectors.duckdb_sink import DuckDBSink


def write_group(sink: DuckDBSink, jobs: Sequence[FinishedJob]) -> None:
    """Inside the transaction the caller opened: every job's old results replaced."""
    sources = [job.source for job in jobs]
    if len(set(sources)) != len(sources) or len({job.table_name for job in jobs}) != len(jobs):
        raise ValueError("a group holds each source and each table name once")
    for job in jobs:  # results an earlier version kept per member file (no query for none)
        sink._drop_member_rows(job.source, job.files, keep_table=job.table_name)
    old = _old_rows(sink, sources)
    stale = [job.table_name for job in jobs if job.table_name not in sink._free_names]
    moved = [old[job.source][0] for job in jobs if _moved(old.get(job.source), job.table_name)]
    sink._free_names.difference_update(job.table_name for job in jobs)
    summaries = [sink._keep_owner_benchmark(job.summary, old.get(job.source)) for job in jobs]
    rows = {
        "job_step_node": _concat([job.breakdown for job in jobs]),
        "job_summary": _concat(summaries),
        "job_files": _concat([job.files for job in jobs if job.files is not None]),
    }
    for name in moved:  # a job whose results moved to a new name: the old name's samples, view
        sink._drop_job(name)
    replace_rows(sink, sources, stale, rows, [job.table_name for job in jobs])
    samples = _concat([_samples(job) for job in jobs])
    if samples is not None:
        sink._insert("job_samples", samples)


def _moved(old: tuple | None, table_name: str) -> bool:
    return old is not None and old[0] is not None and old[0] != table_name


def _old_rows(sink: DuckDBSink, sources: list[str]) -> dict[str, tuple]:
    """source -> (table_name, benchmark, benchmark_set_by) of the sources' summary rows."""
    found: dict[str, tuple] = {}
    for start in range(0, len(sources), LOOKUP_CHUNK):
        chunk = sources[start : start + LOOKUP_CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = sink._fetch(
            "SELECT source, table_name, benchmark, benchmark_set_by "  # noqa: S608 (placeholders)
            f"FROM {sink._own('job_summary')} WHERE source IN ({marks})",
            chunk,
        )
        found.update((row[0], tuple(row[1:])) for row in rows)
    return found


def _deletes(sink: DuckDBSink, sources: list[str], stale: list[str]) -> list[tuple[str, list]]:
    """(statement, parameters) of the old rows' deletes, IN lists of at most LOOKUP_CHUNK."""
    statements = []
    for column, table, values in (
        ("table_name", "job_samples", stale),
        ("source", "job_step_node", sources),
        ("source", "job_summary", sources),
        ("job_source", "job_files", sources),
    ):
        for start in range(0, len(values), LOOKUP_CHUNK):
            chunk = values[start : start + LOOKUP_CHUNK]
            marks = ", ".join("?" * len(chunk))
            sql = f"DELETE FROM {sink._own(table)} WHERE {column} IN ({marks})"  # noqa: S608
            statements.append((sql, chunk))
    return statements


def replace_rows(
    sink: DuckDBSink,
    sources: list[str],
    stale: list[str],
    rows: dict[str, pa.Table | None],
    names: list[str],
) -> None:
    """The sources' summary, breakdown and file rows (and the samples of the `stale` names)
    deleted, `rows` inserted, the views of `names` made: on PostgreSQL one script the server
    runs (one round trip)."""
    if sink.is_postgres:
        _postgres_script(sink, sources, stale, rows, names)
    else:
        _local_statements(sink, sources, stale, rows, names)


def _postgres_script(sink, sources, stale, rows, names) -> None:
    script = [bind(sql, params) for sql, params in _deletes(sink, sources, stale)]
    script += [
        insert_values(sink._own(name), table) for name, table in rows.items() if table is not None
    ]
    script += [bind(f"SELECT {RESULTS_SCHEMA}.publish_job_view(?)", [name]) for name in names]
    sink.con.execute("CALL postgres_execute('pg', ?)", [";\n".join(script)])


def _local_statements(sink, sources, stale, rows, names) -> None:
    for sql, params in _deletes(sink, sources, stale):
        sink._run(sql, params)
    for name, table in rows.items():
        if table is not None:
            sink._insert(name, table)
    summary = rows.get("job_summary")
    named = [] if summary is None else summary.select(["table_name", "source"]).to_pylist()
    sink.names.replaced(sources, [(row["table_name"], row["source"]) for row in named])
    sink.publish(*names)


def _samples(job: FinishedJob) -> pa.Table | None:
    """The job's samples in `job_samples`' column order, keyed by its table name."""
    if not job.sample_rows:
        return None
    rows = pa.concat_tables([part.select(JOB_TIMESERIES.names) for part in job.samples])
    key = pa.array([job.table_name] * rows.num_rows, pa.string())
    return pa.Table.from_arrays([key, *rows.columns], schema=JOB_SAMPLES)


def _concat(tables: list[pa.Table | None]) -> pa.Table | None:
    """One table of one chunk (DuckDB pays per chunk it scans), None when no rows."""
    present = [table for table in tables if table is not None and table.num_rows]
    if not present:
        return None
    return pa.concat_tables(present).combine_chunks()
