"""Engine and session factory built from the settings."""

from __future__ import annotations

import logging
import time

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from .core.config import Settings

log = logging.getLogger(__name__)


def make_engine(settings: Settings) -> Engine:
    # hide_parameters: database errors that reach a log never show bound values (hashes,
    # addresses, names).
    url = settings.sqlalchemy_url()
    if url.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        pool_timeout=10,
        connect_args={"connect_timeout": 5},
        hide_parameters=True,
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def wait_for_database(engine: Engine, timeout_s: float) -> None:
    """Retry until the database answers or `timeout_s` passes (containers start in any order)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except OperationalError as exc:
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"database {engine.url.render_as_string(hide_password=True)} did not "
                    f"answer within {timeout_s:.0f}s (DB_WAIT_S): {exc.orig}"
                ) from None
            log.warning("database not reachable yet, retrying")
            time.sleep(1.0)
