"""The analysis schema in PostgreSQL: Alembic migrations applied under an advisory lock.

Several workers and the listener may start at once; the lock makes one of them migrate while
the others wait, then find nothing left to do. Only entry points call this, when their process
boots (`python -m analysis_module.migrate`, the worker, the listener, the batch CLI): building a
connector never migrates.
"""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
ADVISORY_LOCK_ID = 0x62656E6368  # arbitrary, shared by every analysis process


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade_database(dsn: str, revision: str = "head") -> None:
    """Bring the database at libpq `dsn` to `revision` (default: the newest)."""
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn))
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_ID})")
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()
    log.info("analysis schema is at %s", revision)
