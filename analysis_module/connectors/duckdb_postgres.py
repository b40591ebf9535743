"""PostgreSQL attached to an in-memory DuckDB through the pinned postgres extension, which is
installed from a private folder of ours (never downloaded).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

import duckdb

from analysis_module.pipeline_core.errors import TransientError
from analysis_module.pipeline_core.text import one_line


def postgres_extension_file() -> Path:
    """The postgres extension shipped by the pinned `duckdb-extension-postgres` package."""
    import duckdb_extension_postgres

    root = Path(duckdb_extension_postgres.__file__).parent / "extensions"
    matches = sorted(root.glob(f"v{duckdb.__version__}/postgres.duckdb_extension"))
    if not matches:
        raise RuntimeError(f"postgres extension for DuckDB {duckdb.__version__} not in {root}")
    return matches[0]


def _private_extension_dir() -> Path:
    """Extensions load from a folder of our own, never from a download location."""
    folder = Path(tempfile.gettempdir()) / f"benchsuite-duckdb-{os.getuid()}" / duckdb.__version__
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def attach_postgres(
    dsn: str, *, memory_limit: str, schema: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with PostgreSQL at `dsn` attached as `pg` (only `schema`, when
    given: DuckDB then never loads the catalog of the others); TransientError when the server
    cannot be reached."""
    con = duckdb.connect(
        ":memory:",
        config={
            "extension_directory": str(_private_extension_dir()),
            "memory_limit": memory_limit,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        },
    )
    # Workers start together; a lock keeps one INSTALL from reading another's half copy.
    with open(_private_extension_dir() / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        con.execute(f"INSTALL {_sql_literal(str(postgres_extension_file()))}")
    con.execute("LOAD postgres")
    try:  # ATTACH takes no bound parameters: the DSN goes in as a quoted literal
        only = f", SCHEMA {_sql_literal(schema)}" if schema else ""
        con.execute(f"ATTACH {_sql_literal(dsn)} AS pg (TYPE postgres{only})")
    except (duckdb.IOException, duckdb.ConnectionException) as exc:
        raise TransientError(f"PostgreSQL unreachable: {one_line(exc, max_chars=500)}") from exc
    return con
