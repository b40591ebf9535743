"""Result sinks on DuckDB: a local DuckDB file, or PostgreSQL through DuckDB's postgres extension.

Every job's samples go to one table, `job_samples`, keyed by the job's table name; readers see
one job as the view `job_<jobid>` (in `public` on PostgreSQL, docs/results-layout.md). A job is
written in one transaction: its old samples are deleted and the new ones inserted, the summary
row replaced and the view published, then committed at once. Readers (Grafana, the API) keep
seeing the previous results until the commit and never an empty or half-written job.

On PostgreSQL only the schema `results` is attached, so DuckDB never loads the catalog of the
per-job views or of anything else in the database; rows go in through DuckDB (binary COPY of
Arrow data), and every statement with a WHERE runs on the server itself (`duckdb_sql.py`). A
job costs the same whatever the number of jobs stored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from analysis_module.connectors.duckdb_errors import ConnectionLossIsTransient, is_name_clash
from analysis_module.connectors.duckdb_group_writer import replace_rows, write_group
from analysis_module.connectors.duckdb_job_writer import SAMPLE_COLUMNS, DuckDBJobWriter
from analysis_module.connectors.duckdb_names import TableNames
from analysis_module.connectors.duckdb_postgres import attach_postgres
from analysis_module.connectors.duckdb_sql import (
    DUCKDB_TYPES,
    LOOKUP_CHUNK,
    RESULTS_SCHEMA,
    bind,
    column_ddl,
)
from analysis_module.pipeline_core.errors import TransientError
from analysis_module.pipeline_core.naming import is_valid_table_name
from analysis_module.pipeline_core.schema import (
    JOB_FILES,
    JOB_SAMPLES,
    JOB_STEP_NODE,
    JOB_SUMMARY,
)
from analysis_module.pipeline_core.sink import FinishedJob

__all__ = ["DEFAULT_MEMORY_LIMIT", "DuckDBJobWriter", "DuckDBSink", "column_ddl"]

DEFAULT_MEMORY_LIMIT = "512MB"
# What `owner_of_table` answers for a name that a relation other than a job's results holds
# (a table of an earlier layout that nothing recorded): taken, never overwritten.
FOREIGN_RELATION = "(a relation that holds no job's results)"


class DuckDBSink:
    """`ResultSink` over a DuckDB connection whose tables live under `prefix`."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, prefix: str, *, is_postgres: bool):
        self.con = connection
        self.prefix = prefix
        self.is_postgres = is_postgres
        # Names `owner_of_table` found free: nothing under them to delete when the job opens
        # (another worker taking one meanwhile fails at COMMIT on the unique table name).
        self._free_names: set[str] = set()
        # Local file: its per-job tables of the earlier layout (views are ours and exist only
        # under a summary row's name), so no job has to ask the catalog, whose cost grows
        # with every view. One process holds a DuckDB file, so the set stays true.
        self._legacy_tables: set[str] = set()
        self.names = TableNames(self._named_tables)

    @classmethod
    def local(cls, path: Path, *, memory_limit: str = DEFAULT_MEMORY_LIMIT) -> DuckDBSink:
        """A DuckDB file. A job's rows stay uncommitted until it ends; beyond `memory_limit`
        DuckDB spills them to disk instead of holding the whole job in memory."""
        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path), config={"memory_limit": memory_limit})
        sink = cls(con, "main.", is_postgres=False)
        for name, schema, key in (
            ("job_summary", JOB_SUMMARY, "source"),
            ("job_step_node", JOB_STEP_NODE, None),
            ("job_files", JOB_FILES, None),
            ("job_samples", JOB_SAMPLES, None),
        ):
            con.execute(f"CREATE TABLE IF NOT EXISTS main.{name} ({column_ddl(schema, key)})")
        for name, schema in (("job_summary", JOB_SUMMARY), ("job_step_node", JOB_STEP_NODE)):
            sink._append_new_columns(name, schema)
        sink._load_legacy_tables()
        return sink

    def _load_legacy_tables(self) -> None:
        if not self.is_postgres:
            rows = self.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                "AND database_name = current_database()"
            ).fetchall()
            shared = {"job_summary", "job_step_node", "job_files", "job_samples"}
            self._legacy_tables = {name for (name,) in rows if name not in shared}

    def _named_tables(self) -> list[tuple[str, str]]:
        return self._fetch(
            "SELECT table_name, source FROM main.job_summary WHERE table_name IS NOT NULL"
        )

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

    # -- names and statements ----------------------------------------------------------------

    def table(self, name: str) -> str:
        """A table as DuckDB's own statements name it (readers use this)."""
        if not is_valid_table_name(name):
            raise ValueError(f"invalid table name {name!r}")
        return f'{self.prefix}"{name}"'

    def _own(self, name: str) -> str:
        """A table as the statements of `_run` and `_fetch` name it."""
        schema = RESULTS_SCHEMA if self.is_postgres else "main"
        return f'{schema}."{name}"'

    # Values become literals on either side: PostgreSQL's functions take text only, and a
    # local statement without parameters skips DuckDB's per-call parameter handling (0.2 ms).
    def _run(self, sql: str, params: Sequence[object] = ()) -> None:
        if self.is_postgres:
            self.con.execute("CALL postgres_execute('pg', ?)", [bind(sql, params)])
            return
        self.con.execute(bind(sql, params))

    def _fetch(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        if self.is_postgres:
            query = bind(sql, params)
            return self.con.execute("SELECT * FROM postgres_query('pg', ?)", [query]).fetchall()
        return self.con.execute(bind(sql, params)).fetchall()

    def job_samples(self, table_name: str) -> tuple[str, list]:
        """FROM-clause text (for DuckDB's own statements) and parameters for one job's samples."""
        return f"{self.table('job_samples')} WHERE table_name = ?", [table_name]

    # -- table names and views ---------------------------------------------------------------

    def owner_of_table(self, table_name: str) -> str | None:
        if not is_valid_table_name(table_name):
            raise ValueError(f"invalid table name {table_name!r}")
        with ConnectionLossIsTransient("looking up a table name"):
            if self.is_postgres:
                owner, taken = self._fetch(
                    f"SELECT (SELECT source FROM {self._own('job_summary')} "
                    f"WHERE table_name = ?), {RESULTS_SCHEMA}.public_relkind(?) IS NOT NULL",
                    [table_name, table_name],
                )[0]
            else:
                owner = self.names.holder(table_name)
                taken = table_name in self._legacy_tables
        if owner is None and not taken:
            self._free_names.add(table_name)  # no samples to delete when the job opens
        return owner if owner is not None else (FOREIGN_RELATION if taken else None)

    def publish(self, *table_names: str) -> None:
        """Make each `job_<name>` the view of its job's samples (inside the open transaction);
        locally all in one statement text (a call per view costs a third more)."""
        if self.is_postgres:
            for table_name in table_names:
                self._run(f"SELECT {RESULTS_SCHEMA}.publish_job_view(?)", [table_name])
            return
        statements = []
        for table_name in table_names:
            target = self.table(table_name)  # refuses an invalid name
            if table_name in self._legacy_tables:  # the job's per-job table of the earlier layout
                statements.append(f"DROP TABLE {target}")
            statements.append(
                f"CREATE OR REPLACE VIEW {target} AS SELECT {SAMPLE_COLUMNS} "
                f"FROM main.job_samples WHERE table_name = '{table_name}'"
            )
        if statements:
            self.con.execute(";\n".join(statements))
            self._legacy_tables.difference_update(table_names)

    def _drop_job(self, table_name: str | None) -> None:
        """The samples and the view (or earlier per-job table) of a job's table name."""
        if not table_name or not is_valid_table_name(table_name):
            return
        self._run(f"DELETE FROM {self._own('job_samples')} WHERE table_name = ?", [table_name])
        if self.is_postgres:
            self._run(f"SELECT {RESULTS_SCHEMA}.drop_job_relation(?)", [table_name])
            return
        if table_name in self._legacy_tables:
            self.con.execute(f"DROP TABLE {self.table(table_name)}")
            self._legacy_tables.discard(table_name)
        else:
            self.con.execute(f"DROP VIEW IF EXISTS {self.table(table_name)}")

    # -- writing -----------------------------------------------------------------------------

    def open_job(self, source: str, table_name: str) -> DuckDBJobWriter:
        """Call right after `owner_of_table` for the name."""
        if not is_valid_table_name(table_name):
            raise ValueError(f"invalid table name {table_name!r}")
        with ConnectionLossIsTransient("starting a job"):
            self.con.execute("BEGIN TRANSACTION")
            try:
                if table_name in self._free_names:  # looked up just now: nothing stored
                    self._free_names.discard(table_name)
                else:
                    self._run(
                        f"DELETE FROM {self._own('job_samples')} WHERE table_name = ?",
                        [table_name],
                    )
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
        return DuckDBJobWriter(self, source, table_name)

    def write_jobs(self, jobs: Sequence[FinishedJob]) -> None:
        if not jobs:
            return
        try:
            self._in_transaction("committing a group of jobs", lambda: write_group(self, jobs))
        except duckdb.Error as exc:
            if "table_name" in str(exc) and is_name_clash(exc):  # as in DuckDBJobWriter.finish
                raise TransientError(
                    f"a table name of the group was taken concurrently; retry: {exc}"
                ) from exc
            raise

    def _in_transaction(self, what: str, work) -> None:
        with ConnectionLossIsTransient(what):
            self.con.execute("BEGIN TRANSACTION")
            try:
                work()
                self.con.execute("COMMIT")
            except BaseException:
                self.rollback()
                raise

    def rollback(self) -> None:
        """Undo the open transaction (tables it dropped are back: the set is read again)."""
        self.names.forget()
        with contextlib.suppress(duckdb.Error):
            self.con.execute("ROLLBACK")
            self._load_legacy_tables()

    def record_failure(self, summary: pa.Table, files: pa.Table | None = None) -> None:
        source = summary.column("source")[0].as_py()

        def work() -> None:
            old = self._old_row(source)
            self._drop_job(old[0] if old else None)
            self._drop_member_rows(source, files, keep_table=None)
            self._replace_rows(source, self._keep_owner_benchmark(summary, old), None, files)

        self._in_transaction("recording a failure", work)

    def mark_removed(self, source: str) -> None:
        def work() -> None:
            old = self._old_row(source)
            self._drop_job(old[0] if old else None)
            self._run(
                f"DELETE FROM {self._own('job_step_node')} WHERE source = ?; "
                f"DELETE FROM {self._own('job_files')} WHERE job_source = ?; "
                f"UPDATE {self._own('job_summary')} SET status = 'removed', "
                "table_name = NULL, analysed_at = now() WHERE source = ?",
                [source, source, source],
            )
            self.names.replaced([source], [])

        self._in_transaction("marking a source removed", work)

    def failed_sources(self) -> set[str]:
        """Sources whose last analysis failed or left files out (a LIKWID file included)."""
        with ConnectionLossIsTransient("listing failed analyses"):
            rows = self._fetch(
                f"SELECT source FROM {self._own('job_summary')} "
                "WHERE status = 'failed' OR (status = 'ok' AND n_files_failed > 0) "
                f"UNION SELECT job_source FROM {self._own('job_files')} "
                "WHERE status = 'failed' AND role = 'likwid'"
            )
        return {row[0] for row in rows}

    def _old_row(self, source: str) -> tuple | None:
        """(table_name, benchmark, benchmark_set_by) of the source's summary row."""
        rows = self._fetch(
            f"SELECT table_name, benchmark, benchmark_set_by FROM {self._own('job_summary')} "
            "WHERE source = ?",
            [source],
        )
        return rows[0] if rows else None

    def _drop_member_rows(self, source: str, files: pa.Table | None, keep_table: str | None):
        """Results an earlier version kept per file, for files that are now part of the job
        `source`: their summary, breakdown and file rows, and their table (unless the job
        took that table over). One lookup per 500 files, not one per file."""
        members = set() if files is None else set(files.column("file_source").to_pylist())
        members.discard(source)
        ordered = sorted(members)
        for start in range(0, len(ordered), LOOKUP_CHUNK):
            chunk = ordered[start : start + LOOKUP_CHUNK]
            found = self._fetch(
                f"SELECT source, table_name FROM {self._own('job_summary')} "
                f"WHERE source IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            for member, table_name in found:
                if table_name != keep_table:
                    self._drop_job(table_name)
                self._delete_rows(member)

    def _delete_rows(self, source: str) -> None:
        self._run(
            f"DELETE FROM {self._own('job_step_node')} WHERE source = ?; "
            f"DELETE FROM {self._own('job_summary')} WHERE source = ?; "
            f"DELETE FROM {self._own('job_files')} WHERE job_source = ?",
            [source, source, source],
        )
        self.names.replaced([source], [])

    @staticmethod
    def _keep_owner_benchmark(summary: pa.Table, old: tuple | None) -> pa.Table:
        """The new row replaces the old; a benchmark the owner set stays."""
        if old is None or old[2] != "owner":
            return summary
        for name, value in (("benchmark", old[1]), ("benchmark_set_by", old[2])):
            index = summary.schema.get_field_index(name)
            summary = summary.set_column(
                index, summary.schema.field(index), pa.array([value], pa.string())
            )
        return summary

    def _replace_rows(
        self,
        source: str,
        summary: pa.Table,
        breakdown: pa.Table | None,
        files: pa.Table | None,
        publish: str | None = None,
    ) -> None:
        """The source's summary, breakdown and file rows replaced, and the view `publish` made;
        on PostgreSQL all in one script the server runs (one round trip)."""
        tables = {"job_step_node": breakdown, "job_summary": summary, "job_files": files}
        rows = {
            name: table for name, table in tables.items() if table is not None and table.num_rows
        }
        replace_rows(self, [source], [], rows, [] if publish is None else [publish])

    def _insert(self, table_name: str, rows: pa.Table) -> None:
        # Positional insert: every table is created with its Arrow schema's column order (the
        # migrations too; a test holds them together). A relation, unlike a registered view,
        # does not keep the chunk alive until COMMIT, so a long job streams in bounded memory.
        self.con.from_arrow(rows).insert_into(self.table(table_name))

    def close(self) -> None:
        self.con.close()
