"""Result sinks on DuckDB: a local DuckDB file, or PostgreSQL through DuckDB's postgres extension.

Both run the same SQL; only the qualified table prefix differs (`main.` or `pg.results.`).
Every job's samples go to one table, `job_samples`, keyed by the job's table name; readers see
one job as the view `job_<jobid>` (in `public` on PostgreSQL, docs/results-layout.md). A job is
written in one transaction: its old samples are deleted and the new ones inserted, the summary
row replaced and the view published, then committed at once. Readers (Grafana, the API) keep
seeing the previous results until the commit and never an empty or half-written job.

On PostgreSQL only the schema `results` is attached: DuckDB never loads the catalog of the
per-job views (or of anything else in the database), so a job costs the same whatever the
number of jobs stored.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import duckdb
import pyarrow as pa

from analysis_module.connectors.duckdb_errors import ConnectionLossIsTransient, is_name_clash
from analysis_module.connectors.duckdb_postgres import attach_postgres
from analysis_module.pipeline_core.errors import TransientError
from analysis_module.pipeline_core.naming import is_valid_table_name
from analysis_module.pipeline_core.schema import (
    JOB_FILES,
    JOB_SAMPLES,
    JOB_STEP_NODE,
    JOB_SUMMARY,
    JOB_TIMESERIES,
)

log = logging.getLogger(__name__)

DEFAULT_MEMORY_LIMIT = "512MB"
RESULTS_SCHEMA = "results"  # the PostgreSQL schema of the tables the sink writes
# What `owner_of_table` answers for a name that a relation other than a job's results holds
# (a table of an earlier layout that nothing recorded): taken, never overwritten.
FOREIGN_RELATION = "(a relation that holds no job's results)"
SAMPLE_COLUMNS = ", ".join(f'"{name}"' for name in JOB_TIMESERIES.names)

DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
}


def column_ddl(schema: pa.Schema, primary_key: str | None = None) -> str:
    columns = []
    for field in schema:
        ddl = f'"{field.name}" {DUCKDB_TYPES[field.type]}'
        if field.name == primary_key:
            ddl += " PRIMARY KEY"
        elif not field.nullable:
            ddl += " NOT NULL"
        columns.append(ddl)
    return ", ".join(columns)


class DuckDBSink:
    """`ResultSink` over a DuckDB connection whose tables live under `prefix`."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, prefix: str, *, is_postgres: bool):
        self.con = connection
        self.prefix = prefix
        self.is_postgres = is_postgres

    @classmethod
    def local(cls, path: Path, *, memory_limit: str = DEFAULT_MEMORY_LIMIT) -> DuckDBSink:
        """A DuckDB file. A job's rows stay uncommitted until it ends; beyond `memory_limit`
        DuckDB spills them to disk instead of holding the whole job in memory."""
        path.parent.mkdir(parents=True, exist_ok=True)
        sink = cls(
            duckdb.connect(str(path), config={"memory_limit": memory_limit}),
            "main.",
            is_postgres=False,
        )
        sink.con.execute(
            f"CREATE TABLE IF NOT EXISTS main.job_summary ({column_ddl(JOB_SUMMARY, 'source')})"
        )
        sink.con.execute(
            f"CREATE TABLE IF NOT EXISTS main.job_step_node ({column_ddl(JOB_STEP_NODE)})"
        )
        sink.con.execute(f"CREATE TABLE IF NOT EXISTS main.job_files ({column_ddl(JOB_FILES)})")
        sink.con.execute(f"CREATE TABLE IF NOT EXISTS main.job_samples ({column_ddl(JOB_SAMPLES)})")
        for name, schema in (("job_summary", JOB_SUMMARY), ("job_step_node", JOB_STEP_NODE)):
            sink._append_new_columns(name, schema)
        return sink

    def _append_new_columns(self, table_name: str, schema: pa.Schema) -> None:
        """A DuckDB file written by an earlier version gets the metrics added since (always
        the last columns, as the PostgreSQL migrations append them)."""
        existing = {
            row[0]
            for row in self.con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'main' AND table_name = ?",
                [table_name],
            ).fetchall()
        }
        for field in schema:
            if field.name not in existing:
                self.con.execute(
                    f'ALTER TABLE main.{table_name} ADD COLUMN "{field.name}" '
                    f"{DUCKDB_TYPES[field.type]}"
                )

    @classmethod
    def postgres(cls, dsn: str, *, memory_limit: str = DEFAULT_MEMORY_LIMIT) -> DuckDBSink:
        """Attach PostgreSQL's schema `results` alone; its tables come from the Alembic
        migrations (`migrate.py`)."""
        con = attach_postgres(dsn, memory_limit=memory_limit, schema=RESULTS_SCHEMA)
        return cls(con, f"pg.{RESULTS_SCHEMA}.", is_postgres=True)

    def table(self, name: str) -> str:
        if not is_valid_table_name(name):
            raise ValueError(f"invalid table name {name!r}")
        return f'{self.prefix}"{name}"'

    def job_samples(self, table_name: str) -> tuple[str, list]:
        """FROM-clause text and parameters for one job's samples."""
        return f"{self.table('job_samples')} WHERE table_name = ?", [table_name]

    def owner_of_table(self, table_name: str) -> str | None:
        with ConnectionLossIsTransient("looking up a table name"):
            row = self.con.execute(
                f"SELECT source FROM {self.table('job_summary')} WHERE table_name = ?",
                [table_name],
            ).fetchone()
            if row is not None:
                return row[0]
            return FOREIGN_RELATION if self.relation_kind(table_name) else None

    def relation_kind(self, name: str) -> str | None:
        """'table' or 'view' when a relation `name` exists where the job views live."""
        if not is_valid_table_name(name):
            raise ValueError(f"invalid table name {name!r}")
        if self.is_postgres:  # the schema public is not attached: ask the server
            query = (
                "SELECT CASE c.relkind WHEN 'v' THEN 'view' ELSE 'table' END FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                f"WHERE n.nspname = 'public' AND c.relname = '{name}'"
            )
            row = self.con.execute("SELECT * FROM postgres_query('pg', ?)", [query]).fetchone()
        else:
            row = self.con.execute(
                "SELECT CASE WHEN table_type = 'VIEW' THEN 'view' ELSE 'table' END "
                "FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?",
                [name],
            ).fetchone()
        return row[0] if row else None

    def publish(self, table_name: str) -> None:
        """Make `job_<name>` the view of the job's samples (inside the open transaction)."""
        if self.is_postgres:
            self._server(f"SELECT {RESULTS_SCHEMA}.publish_job_view('{table_name}')")
            return
        target = self.table(table_name)
        if self.relation_kind(table_name) == "table":  # a per-job table of the earlier layout
            self.con.execute(f"DROP TABLE {target}")
        self.con.execute(
            f"CREATE OR REPLACE VIEW {target} AS SELECT {SAMPLE_COLUMNS} "
            f"FROM main.job_samples WHERE table_name = '{table_name}'"
        )

    def _drop_job(self, table_name: str | None) -> None:
        """The samples and the view (or earlier per-job table) of a job's table name."""
        if not table_name or not is_valid_table_name(table_name):
            return
        self.con.execute(
            f"DELETE FROM {self.table('job_samples')} WHERE table_name = ?", [table_name]
        )
        if self.is_postgres:
            self._server(f"SELECT {RESULTS_SCHEMA}.drop_job_relation('{table_name}')")
            return
        kind = self.relation_kind(table_name)
        if kind is not None:
            self.con.execute(f"DROP {kind.upper()} {self.table(table_name)}")

    def _server(self, statement: str) -> None:
        """A statement PostgreSQL runs itself, in the current transaction (names in it are
        checked by `is_valid_table_name`)."""
        self.con.execute("CALL postgres_execute('pg', ?)", [statement])

    def open_job(self, source: str, table_name: str) -> DuckDBJobWriter:
        """Call right after `owner_of_table`."""
        if not is_valid_table_name(table_name):
            raise ValueError(f"invalid table name {table_name!r}")
        with ConnectionLossIsTransient("starting a job"):
            self.con.execute("BEGIN TRANSACTION")
            try:
                samples, params = self.job_samples(table_name)
                self.con.execute(f"DELETE FROM {samples}", params)
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
        return DuckDBJobWriter(self, source, table_name)

    def record_failure(self, summary: pa.Table, files: pa.Table | None = None) -> None:
        source = summary.column("source")[0].as_py()
        with ConnectionLossIsTransient("recording a failure"):
            self.con.execute("BEGIN TRANSACTION")
            try:
                self._drop_results(source)
                self._drop_member_rows(source, files, keep_table=None)
                self._replace_summary(source, summary)
                self._replace_files(source, files)
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise

    def failed_sources(self) -> set[str]:
        """Sources whose last analysis failed or left files out (a LIKWID file included)."""
        with ConnectionLossIsTransient("listing failed analyses"):
            rows = self.con.execute(
                f"SELECT source FROM {self.table('job_summary')} "
                "WHERE status = 'failed' OR (status = 'ok' AND n_files_failed > 0) "
                f"UNION SELECT job_source FROM {self.table('job_files')} "
                "WHERE status = 'failed' AND role = 'likwid'"
            ).fetchall()
        return {row[0] for row in rows}

    def mark_removed(self, source: str) -> None:
        with ConnectionLossIsTransient("marking a source removed"):
            self.con.execute("BEGIN TRANSACTION")
            try:
                self._drop_results(source)
                self._replace_files(source, None)
                self.con.execute(
                    f"UPDATE {self.table('job_summary')} SET status = 'removed', "
                    "table_name = NULL, analysed_at = now() WHERE source = ?",
                    [source],
                )
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise

    def _drop_results(self, source: str) -> None:
        row = self.con.execute(
            f"SELECT table_name FROM {self.table('job_summary')} WHERE source = ?", [source]
        ).fetchone()
        self._drop_job(row[0] if row else None)
        self.con.execute(f"DELETE FROM {self.table('job_step_node')} WHERE source = ?", [source])

    def _drop_member_rows(self, source: str, files: pa.Table | None, keep_table: str | None):
        """Results an earlier version kept per file, for files that are now part of the job
        `source`: their summary, breakdown and file rows, and their table (unless the job
        took that table over)."""
        members = set() if files is None else set(files.column("file_source").to_pylist())
        members.discard(source)
        for member, table_name in self._summary_rows(sorted(members)):
            if table_name != keep_table:
                self._drop_job(table_name)
            for table, column in (
                ("job_step_node", "source"),
                ("job_summary", "source"),
                ("job_files", "job_source"),
            ):
                self.con.execute(f"DELETE FROM {self.table(table)} WHERE {column} = ?", [member])

    def _summary_rows(self, sources: list[str]) -> list[tuple[str, str | None]]:
        """(source, table_name) of those of `sources` that have a summary row; one query per
        500 (a job of many files costs one lookup, not one per file)."""
        found = []
        for start in range(0, len(sources), 500):
            chunk = sources[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            found += self.con.execute(
                f"SELECT source, table_name FROM {self.table('job_summary')} "
                f"WHERE source IN ({marks})",
                chunk,
            ).fetchall()
        return found

    def _drop_stale_table(self, source: str, table_name: str) -> None:
        """The job's results moved to `table_name`: the table it used before goes."""
        row = self.con.execute(
            f"SELECT table_name FROM {self.table('job_summary')} WHERE source = ?", [source]
        ).fetchone()
        if row and row[0] != table_name:
            self._drop_job(row[0])

    def _replace_summary(self, source: str, summary: pa.Table) -> None:
        """The new row replaces the old; a benchmark the owner set stays."""
        old = self.con.execute(
            f"SELECT benchmark, benchmark_set_by FROM {self.table('job_summary')} WHERE source = ?",
            [source],
        ).fetchone()
        if old is not None and old[1] == "owner":
            for name, value in zip(("benchmark", "benchmark_set_by"), old, strict=True):
                index = summary.schema.get_field_index(name)
                summary = summary.set_column(
                    index, summary.schema.field(index), pa.array([value], pa.string())
                )
        self.con.execute(f"DELETE FROM {self.table('job_summary')} WHERE source = ?", [source])
        self._insert("job_summary", summary)

    def _replace_files(self, source: str, files: pa.Table | None) -> None:
        self.con.execute(f"DELETE FROM {self.table('job_files')} WHERE job_source = ?", [source])
        if files is not None and files.num_rows:
            self._insert("job_files", files)

    def _insert(self, table_name: str, rows: pa.Table) -> None:
        # Positional insert: every table is created with its Arrow schema's column order (the
        # migrations too; a test holds them together). A relation, unlike a registered view,
        # does not keep the chunk alive until COMMIT, so a long job streams in bounded memory.
        self.con.from_arrow(rows).insert_into(self.table(table_name))

    def close(self) -> None:
        self.con.close()


class DuckDBJobWriter:
    """Inside the transaction opened by `DuckDBSink.open_job`."""

    def __init__(self, sink: DuckDBSink, source: str, table_name: str):
        self.sink = sink
        self.source = source
        self.table_name = table_name

    def append_timeseries(self, rows: pa.Table) -> None:
        with ConnectionLossIsTransient("writing samples"):  # the name is checked at open_job
            relation = self.sink.con.from_arrow(rows).project(
                f"'{self.table_name}' AS table_name, {SAMPLE_COLUMNS}"
            )
            relation.insert_into(self.sink.table("job_samples"))

    def finish(self, summary: pa.Table, breakdown: pa.Table, files: pa.Table | None = None) -> None:
        sink = self.sink
        with ConnectionLossIsTransient("committing results"):
            try:
                sink._drop_member_rows(self.source, files, keep_table=self.table_name)
                sink._drop_stale_table(self.source, self.table_name)
                sink.con.execute(
                    f"DELETE FROM {sink.table('job_step_node')} WHERE source = ?", [self.source]
                )
                if breakdown.num_rows:
                    sink._insert("job_step_node", breakdown)
                sink._replace_summary(self.source, summary)
                sink._replace_files(self.source, files)
                sink.publish(self.table_name)
                sink.con.execute("COMMIT")
            except duckdb.Error as exc:
                self.abort()
                if "table_name" in str(exc) and is_name_clash(exc):
                    # Another source claimed the same free name first; a retry picks a new one.
                    raise TransientError(
                        f"table name {self.table_name} was taken concurrently; retry"
                    ) from exc
                raise
            except BaseException:
                self.abort()
                raise

    def abort(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.sink.con.execute("ROLLBACK")
