"""Which DuckDB and PostgreSQL errors mean a lost connection or a name taken concurrently, and
the context that turns a lost connection into a `TransientError` (queue workers retry those).
"""

from __future__ import annotations

import duckdb

from analysis_module.pipeline_core.errors import TransientError
from analysis_module.pipeline_core.text import one_line

# What DuckDB and its postgres extension say when the server or the connection went away (a
# restart, pg_terminate_backend, a network cut): not the file's fault, worth another try on a
# fresh connection. Matched in lower case, anywhere in the message.
CONNECTION_LOST_PHRASES = (
    "server closed the connection",
    "terminating connection",
    "database has been invalidated",
    "connection to server",
    "could not connect",
    "no connection to the server",
    "connection refused",
    "connection reset",
    "broken pipe",
    "ssl syscall",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "connection is closed",
    "connection already closed",
)


def is_name_clash(exc: BaseException) -> bool:
    """Did this error come from a name or key another transaction took first?"""
    text = str(exc).lower()
    return "duplicate key" in text or "unique" in text or "already exists" in text


def is_connection_failure(exc: BaseException | None) -> bool:
    """Did this error (or one of its causes) come from a lost database connection?"""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, duckdb.IOException | duckdb.ConnectionException | duckdb.FatalException):
            return True
        if type(exc).__module__.startswith(("psycopg", "psycopg_pool")) and (
            type(exc).__name__ in {"OperationalError", "InterfaceError", "PoolTimeout"}
        ):
            return True
        if isinstance(exc, duckdb.Error):
            text = str(exc).lower()
            if any(phrase in text for phrase in CONNECTION_LOST_PHRASES):
                return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


class ConnectionLossIsTransient:
    """Turns connection failures into TransientError so queue workers retry them."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is not None and not isinstance(exc, TransientError) and is_connection_failure(exc):
            raise TransientError(
                f"database error while {self.what}: {one_line(exc, max_chars=500)}"
            ) from exc
        return False
