"""Session-wide real services: a fresh PostgreSQL database with our migrations, and S3
(Ceph's RADOS Gateway, which checks signatures and sends bucket notifications)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support import postgres, rgw

# CI replays the same generated cases on every run (a red CI must mean a regression, not a
# new random draw); locally each run draws new ones.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "default")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "profiles"
DATA = Path(__file__).resolve().parent / "data"

# No test may reach the Internet: SMARD and S3 go to loopback servers only.
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("APP_ENV", "development")


def apply_migrations(db: postgres.PgDatabase) -> None:
    """Every schema the services own, as production applies it (Alembic / procrastinate)."""
    from analysis_module.migrate import upgrade_database as upgrade_analysis
    from api_backend.migrate import upgrade_database as upgrade_api

    upgrade_analysis(db.dsn)
    upgrade_api(db.sqlalchemy_url)


@pytest.fixture(scope="session")
def pg_empty():
    """A brand-new empty database; dropped at the end of the session."""
    db = postgres.create_database()
    yield db
    postgres.drop_database(db)


@pytest.fixture(scope="session")
def pg_db():
    """A fresh database with all our migrations applied, shared by the session."""
    db = postgres.create_database()
    apply_migrations(db)
    yield db
    postgres.drop_database(db)


@pytest.fixture
def pg_fresh_db():
    """A migrated database of its own for a test that must not see others' rows."""
    db = postgres.create_database()
    apply_migrations(db)
    yield db
    postgres.drop_database(db)


@pytest.fixture(scope="session")
def s3_endpoint():
    """Ceph's RADOS Gateway: checks signatures, expiry and POST policies, and notifies."""
    endpoint = rgw.start()
    yield endpoint
    endpoint.server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint):
    return s3_endpoint.new_bucket()


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA
