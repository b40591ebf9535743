"""Applies the API's schema (Alembic, version table `alembic_version_api`).

On PostgreSQL the upgrade runs under a session advisory lock, so several workers starting at
once take turns: one migrates, the others find nothing left to do. SQLite needs no lock.

Command line: `python -m api_backend.migrate` (upgrade to head from the environment's
settings) or `python -m api_backend.migrate check` (exit 1 when migrations are pending).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version_api"
ADVISORY_LOCK_ID = 0x6170692D6D6967  # "api-mig"; the analysis holds a different id
UPGRADE_COMMAND = "python -m api_backend.migrate"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _with_lock(connection: Connection, action) -> None:
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": ADVISORY_LOCK_ID})
        connection.commit()
    try:
        action()
        connection.commit()
    finally:
        if postgres:
            connection.rollback()
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": ADVISORY_LOCK_ID})
            connection.commit()


def upgrade_database(url: str | URL, revision: str = "head") -> None:
    """Bring the database at SQLAlchemy `url` to `revision` (default: the newest)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            _with_lock(connection, lambda: command.upgrade(alembic_config(connection), revision))
    finally:
        engine.dispose()
    log.info("API schema is at %s", revision)


def pending_revisions(url: str | URL) -> list[str]:
    """Revisions not yet applied, oldest first (empty when the schema is current)."""
    script = ScriptDirectory.from_config(alembic_config())
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE}
            ).get_current_heads()
    finally:
        engine.dispose()
    pending = [
        rev.revision
        for rev in script.iterate_revisions("heads", current or "base")
        if rev.revision not in current
    ]
    return list(reversed(pending))


def main(argv: list[str] | None = None) -> int:
    from .core.config import load_settings

    args = sys.argv[1:] if argv is None else argv
    url = load_settings().sqlalchemy_url()
    if args[:1] == ["check"]:
        pending = pending_revisions(url)
        print("pending: " + (", ".join(pending) if pending else "none"))
        return 1 if pending else 0
    upgrade_database(url)
    print("API schema is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
