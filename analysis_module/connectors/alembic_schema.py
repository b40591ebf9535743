"""The analysis schema in PostgreSQL: Alembic migrations applied under an advisory lock.

Several workers and the listener may start at once; the lock makes one of them migrate while
the others wait, then find nothing left to do. Only entry points call this, when their process
boots (`python -m analysis_module.migrate`, the worker, the listener, the batch CLI): building a
connector never migrates.

A database already at the newest revision is the common case (every batch run, every worker
restart). It is recognised with one query, against the newest revision read from the migration
files' own `revision = "..."` lines, so that start-up pays neither for importing Alembic and
SQLAlchemy nor for Alembic's script scan.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
VERSION_TABLE = "alembic_version_analysis"  # as migrations/env.py configures Alembic
ADVISORY_LOCK_ID = 0x62656E6368  # arbitrary, shared by every analysis process
_REVISION_LINE = re.compile(r'^(down_revision|revision) = (None|"([^"]+)")$', re.MULTILINE)


def alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@cache
def head_revision() -> str:
    """The one revision no migration file names as its `down_revision`."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = {kind: name for kind, _, name in _REVISION_LINE.findall(path.read_text())}
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision") or None)
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the analysis migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def current_revision(dsn: str) -> str | None:
    """The revision the database at `dsn` records; None when it has none yet."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        row = connection.execute(
            "SELECT to_regclass(%s) IS NOT NULL", [f"public.{VERSION_TABLE}"]
        ).fetchone()
        if not row[0]:
            return None
        query = f"SELECT version_num FROM public.{VERSION_TABLE}"  # noqa: S608 (a constant)
        versions = connection.execute(query).fetchall()
    return versions[0][0] if len(versions) == 1 else None


def upgrade_database(dsn: str, revision: str = "head") -> None:
    """Bring the database at libpq `dsn` to `revision` (default: the newest)."""
    if revision == "head" and current_revision(dsn) == head_revision():
        log.info("analysis schema is at %s", head_revision())
        return
    from alembic import command
    from sqlalchemy import create_engine

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
