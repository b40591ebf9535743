"""Move the per-job tables of earlier layouts into the one results layout.

    .venv/bin/python -m analysis_module.move_job_tables [--db FILE] [--batch 100] [--dry-run]

With POSTGRES_HOST set it works on PostgreSQL (migrating it first), else on the local DuckDB
results file (`--db`, default DUCKDB_PATH). A job's table of ours becomes rows of job_samples
and the view of the same name; any other `job_*` table moves unchanged to schema legacy_jobs
with a view of the same name in public (docs/results-layout.md). Progress goes to stderr after
every batch; an interrupted run keeps every batch it committed and a re-run carries on.
A configuration mistake is one line and exit 2; a database error is one line and exit 1.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import duckdb

from analysis_module.connectors.alembic_schema import upgrade_database
from analysis_module.connectors.duckdb_sink import DuckDBSink
from analysis_module.connectors.job_tables import (
    DuckDBTables,
    MoveReport,
    PostgresTables,
    move_tables,
)
from analysis_module.pipeline_core.errors import TransientError
from analysis_module.pipeline_core.text import one_line
from analysis_module.startup import OneLineArgumentParser, settings_or_exit

FAILED_EXIT = 1


def _arguments(argv: Sequence[str] | None):
    parser = OneLineArgumentParser(
        prog="python -m analysis_module.move_job_tables",
        description="Move per-job tables of earlier layouts into job_samples and views.",
    )
    parser.add_argument("--db", type=Path, help="local DuckDB results file (DUCKDB_PATH)")
    parser.add_argument(
        "--batch", type=_positive, default=100, help="tables per transaction (default 100)"
    )
    parser.add_argument("--dry-run", action="store_true", help="only count the tables to move")
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def _progress(started: float):
    def show(report: MoveReport, total: int) -> None:
        seconds = time.monotonic() - started
        sys.stderr.write(
            f"moved {report.tables:,}/{total:,} tables ({report.ours:,} of jobs, "
            f"{report.other:,} of other layouts, {report.rows:,} sample rows) "
            f"in {seconds:.1f} s\n"
        )

    return show


def _run(tables, args, *, move_other: bool) -> int:
    total = tables.count_pending()
    if args.dry_run:
        sys.stdout.write(f"{total:,} per-job tables to move\n")
        return 0
    report = move_tables(
        tables, batch=args.batch, move_other=move_other, progress=_progress(time.monotonic())
    )
    left = f"; left {len(report.skipped):,} tables that are not a job's" if report.skipped else ""
    sys.stdout.write(
        f"moved {report.tables:,} per-job tables: {report.ours:,} into job_samples "
        f"({report.rows:,} rows), {report.other:,} into legacy_jobs{left}\n"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    settings = settings_or_exit({"duckdb_path": args.db}, {"duckdb_path": "--db"})
    where = "PostgreSQL" if settings.use_postgres else str(settings.duckdb_path)
    try:
        if settings.use_postgres:
            import psycopg

            upgrade_database(settings.postgres_dsn())
            with psycopg.connect(settings.postgres_dsn()) as con:
                return _run(PostgresTables(con), args, move_other=True)
        path = settings.duckdb_path
        if not path.is_file():
            setting = "--db" if args.db is not None else "DUCKDB_PATH"
            sys.stderr.write(f"{setting}: no results file at {path}\n")
            return 2
        sink = DuckDBSink.local(path)
        try:
            return _run(DuckDBTables(sink), args, move_other=False)
        finally:
            sink.close()
    except (TransientError, duckdb.Error, OSError) as exc:
        sys.stderr.write(f"cannot move per-job tables in {where}: {one_line(exc)}\n")
    except Exception as exc:  # psycopg's errors, without importing it for DuckDB runs
        if not type(exc).__module__.startswith("psycopg"):
            raise
        sys.stderr.write(f"cannot move per-job tables in {where}: {one_line(exc)}\n")
    return FAILED_EXIT


if __name__ == "__main__":
    raise SystemExit(main())
