"""Moves per-job tables of earlier layouts into the one results layout (docs/results-layout.md).

Two kinds of `job_*` tables can sit in PostgreSQL's `public`:

- **ours**: a table `job_summary.table_name` names, with the columns of a per-job samples table.
  Its rows go to `results.job_samples` under its name, and the table becomes the job's view.
- **other**: any other `job_*` table (an earlier per-file layout's, no summary row names it, or
  a table of ours whose columns are not the samples' columns). It moves unchanged to schema
  `legacy_jobs` (`SET SCHEMA`: no row is rewritten) and `public` keeps a view of it under the
  same name, so queries and panels written against it read the same rows as before.

Every table is moved in a transaction with its view, a batch of tables per commit: an
interrupted run loses nothing and the next run carries on with the tables still left. In a
local DuckDB results file only tables of ours are moved (DuckDB has no SET SCHEMA; others stay).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from analysis_module.pipeline_core.naming import RESERVED_TABLE_NAMES, is_valid_table_name
from analysis_module.pipeline_core.schema import JOB_TIMESERIES

LEGACY_SCHEMA = "legacy_jobs"
REQUIRED = ("step", "node", "time", "epoch_s")  # without these a table is not a samples table
SAMPLE_NAMES = tuple(JOB_TIMESERIES.names)


@dataclass
class MoveReport:
    ours: int = 0  # tables of ours whose rows went to job_samples
    other: int = 0  # tables of another layout moved to legacy_jobs
    rows: int = 0  # sample rows moved
    skipped: list[str] = field(default_factory=list)  # names a table name cannot have

    @property
    def tables(self) -> int:
        return self.ours + self.other


def is_samples_shape(columns: list[str]) -> bool:
    """Columns of a per-job samples table: the keys present, nothing we do not know."""
    return all(c in columns for c in REQUIRED) and set(columns) <= set(SAMPLE_NAMES)


def _copy_sql(source: str, name: str, columns: list[str], target: str) -> str:
    present = [c for c in SAMPLE_NAMES if c in columns]
    names = ", ".join(f'"{c}"' for c in present)
    # `name` passed is_valid_table_name, the columns are ours
    return (
        f"INSERT INTO {target} (table_name, {names}) "  # noqa: S608
        f"SELECT '{name}', {names} FROM {source}.\"{name}\""
    )


class PostgresTables:
    """Per-job tables in PostgreSQL's `public`, through a psycopg connection."""

    def __init__(self, con):
        self.con = con

    def pending(self, after: str, limit: int) -> list[tuple[str, bool]]:
        """(name, has a summary row) of base tables named job_* after `after`, in name order."""
        rows = self.con.execute(
            r"""SELECT c.relname, EXISTS (
                       SELECT 1 FROM results.job_summary s WHERE s.table_name = c.relname)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                  AND c.relname LIKE 'job\_%%' AND c.relname > %s
                  AND NOT c.relname = ANY(%s)
                ORDER BY c.relname LIMIT %s""",
            (after, sorted(RESERVED_TABLE_NAMES), limit),
        ).fetchall()
        return [(name, bool(ours)) for name, ours in rows]

    def count_pending(self) -> int:
        return self.con.execute(
            r"""SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                  AND c.relname LIKE 'job\_%%' AND NOT c.relname = ANY(%s)""",
            (sorted(RESERVED_TABLE_NAMES),),
        ).fetchone()[0]

    def columns(self, name: str) -> list[str]:
        rows = self.con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
            (name,),
        ).fetchall()
        return [row[0] for row in rows]

    def move_ours(self, name: str, columns: list[str]) -> int:
        moved = self.con.execute(_copy_sql("public", name, columns, "results.job_samples")).rowcount
        self.con.execute("SELECT results.publish_job_view(%s)", (name,))  # drops the table
        return moved

    def move_other(self, name: str) -> None:
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {LEGACY_SCHEMA}")
        self.con.execute(f'ALTER TABLE public."{name}" SET SCHEMA {LEGACY_SCHEMA}')
        view = f'CREATE VIEW public."{name}" AS SELECT * FROM {LEGACY_SCHEMA}."{name}"'  # noqa: S608
        self.con.execute(view)

    def commit(self) -> None:
        self.con.commit()

    def rollback(self) -> None:
        self.con.rollback()


class DuckDBTables:
    """Per-job tables in a local DuckDB results file (its sink made job_samples)."""

    def __init__(self, sink):
        self.sink = sink
        self.con = sink.con
        self.con.execute("BEGIN TRANSACTION")

    def pending(self, after: str, limit: int) -> list[tuple[str, bool]]:
        rows = self.con.execute(
            """SELECT t.table_name, s.source IS NOT NULL FROM information_schema.tables t
               LEFT JOIN main.job_summary s ON s.table_name = t.table_name
               WHERE t.table_schema = 'main' AND t.table_type = 'BASE TABLE'
                 AND t.table_name LIKE 'job\\_%' ESCAPE '\\' AND t.table_name > ?
                 AND NOT list_contains(?, t.table_name)
               ORDER BY t.table_name LIMIT ?""",
            [after, sorted(RESERVED_TABLE_NAMES), limit],
        ).fetchall()
        return [(name, bool(ours)) for name, ours in rows]

    def count_pending(self) -> int:
        return len(self.pending("", 10**9))

    def columns(self, name: str) -> list[str]:
        rows = self.con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
            [name],
        ).fetchall()
        return [row[0] for row in rows]

    def move_ours(self, name: str, columns: list[str]) -> int:
        moved = self.con.execute(_copy_sql("main", name, columns, "main.job_samples")).fetchone()
        self.sink.publish(name)  # drops the table
        return moved[0] if moved else 0

    def move_other(self, name: str) -> None:
        raise NotImplementedError  # never called: `other_kind` is False for DuckDB

    def commit(self) -> None:
        self.con.execute("COMMIT")
        self.con.execute("BEGIN TRANSACTION")

    def rollback(self) -> None:
        self.sink.rollback()


def move_tables(
    tables,
    *,
    batch: int = 100,
    move_other: bool = True,
    progress: Callable[[MoveReport, int], None] | None = None,
) -> MoveReport:
    """Moves every pending table, `batch` per transaction; `progress(report, total)` after each
    commit. Tables it must leave (other kinds in DuckDB, invalid names) are passed over."""
    report = MoveReport()
    total = tables.count_pending()
    after = ""
    while chunk := tables.pending(after, batch):
        done = MoveReport()  # counted into `report` once committed
        try:
            for name, ours in chunk:
                after = name
                if not is_valid_table_name(name):
                    done.skipped.append(name)
                    continue
                columns = tables.columns(name)
                if ours and is_samples_shape(columns):
                    done.rows += tables.move_ours(name, columns)
                    done.ours += 1
                elif move_other:
                    tables.move_other(name)
                    done.other += 1
                else:
                    done.skipped.append(name)
            tables.commit()
        except BaseException:
            tables.rollback()
            raise
        report.ours, report.other = report.ours + done.ours, report.other + done.other
        report.rows += done.rows
        report.skipped += done.skipped
        if progress is not None:
            progress(report, total)
    return report
