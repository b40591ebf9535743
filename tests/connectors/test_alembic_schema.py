"""Start-up migrations: a database at the newest revision is recognised without Alembic."""

from __future__ import annotations

import threading

import psycopg
import pytest
from alembic.script import ScriptDirectory

from analysis_module.connectors.alembic_schema import (
    ADVISORY_LOCK_ID,
    alembic_config,
    current_revision,
    head_revision,
    upgrade_database,
)
from tests.support import postgres


@pytest.fixture
def db():
    database = postgres.create_database("bs_alembic")
    yield database
    postgres.drop_database(database)


def test_head_read_from_the_files_is_alembics_head():
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_an_empty_database_is_migrated_to_the_head(db):
    assert current_revision(db.dsn) is None
    upgrade_database(db.dsn)
    assert current_revision(db.dsn) == head_revision()


def test_an_older_database_is_still_upgraded(db):
    upgrade_database(db.dsn, "0002_ingest")
    assert current_revision(db.dsn) == "0002_ingest"
    upgrade_database(db.dsn)
    assert current_revision(db.dsn) == head_revision()


def test_a_database_at_the_head_starts_without_waiting_for_a_migration_lock(db):
    """A worker restarting while another process holds the migration lock (a migration job
    that is still running elsewhere) does not queue behind it when there is nothing to do."""
    upgrade_database(db.dsn)
    with psycopg.connect(db.dsn) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_ID])
        done = threading.Event()
        thread = threading.Thread(target=lambda: (upgrade_database(db.dsn), done.set()))
        thread.start()
        assert done.wait(20), "upgrade_database waited for the lock with nothing to migrate"
        holder.rollback()
    thread.join(5)


def test_a_database_behind_the_head_waits_for_the_lock(db):
    """The slow path keeps its lock: two processes never migrate at once."""
    upgrade_database(db.dsn, "0004_task_sentinels")
    with psycopg.connect(db.dsn) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_ID])
        done = threading.Event()
        thread = threading.Thread(target=lambda: (upgrade_database(db.dsn), done.set()))
        thread.start()
        assert not done.wait(1.5), "upgrade_database migrated without the lock"
        holder.rollback()
    thread.join(30)
    assert done.is_set()
    assert current_revision(db.dsn) == head_revision()
