"""Upgrading a deployment: objects failed before `failure_kind` existed get the right kind, so
the ones failed by configuration or a defect are analysed again by the next rescan."""

from __future__ import annotations

import pytest

from analysis_module.migrate import upgrade_database
from tests.ingest.support import fetch_all
from tests.support import postgres

FAILED_BEFORE = [
    # key, job_summary error for the same ETag (None: no row), expected kind
    ("corrupt.h5", "x.h5: truncated HDF5 file: superblock missing", "file"),
    ("plugin.h5", "internal error: unknown energy plugin 'bogus' for field 'Power'", "internal"),
    ("gave-up.h5", None, "transient"),
]


@pytest.fixture
def old_db():
    db = postgres.create_database("bs_migrate")
    upgrade_database(db.dsn, "0002_ingest")
    yield db
    postgres.drop_database(db)


def test_existing_failures_are_classified_on_upgrade(old_db):
    with old_db.connect() as conn:
        for key, error, _ in FAILED_BEFORE:
            source = f"s3://b/{key}"
            conn.execute(
                "INSERT INTO ingest_objects (bucket, key, source, etag, status, error)"
                " VALUES ('b', %s, %s, 'e1', 'failed', %s)",
                (key, source, error or "gave up after 8 attempts: S3 unreachable"),
            )
            if error is not None:
                conn.execute(
                    "INSERT INTO job_summary (source, source_etag, status, error, analysed_at)"
                    " VALUES (%s, 'e1', 'failed', %s, now())",
                    (source, error),
                )
        conn.execute(
            "INSERT INTO ingest_objects (bucket, key, source, etag, status)"
            " VALUES ('b', 'fine.h5', 's3://b/fine.h5', 'e1', 'ok')"
        )
        conn.commit()
    upgrade_database(old_db.dsn)
    kinds = dict(fetch_all(old_db, "SELECT key, failure_kind FROM ingest_objects"))
    assert kinds == {**{key: kind for key, _, kind in FAILED_BEFORE}, "fine.h5": None}


def test_task_sentinel_values_is_added_empty_to_existing_results():
    db = postgres.create_database("bs_migrate")
    try:
        upgrade_database(db.dsn, "0003_failure_kind")
        with db.connect() as conn:
            conn.execute(
                "INSERT INTO job_summary (source, status, analysed_at, energy_j)"
                " VALUES ('s3://b/old.h5', 'ok', now(), 3150)"
            )
            conn.commit()
        upgrade_database(db.dsn)
        rows = fetch_all(db, "SELECT energy_j, task_sentinel_values FROM job_summary")
        assert rows == [(3150.0, None)]
    finally:
        postgres.drop_database(db)


def test_existing_objects_get_no_upload_work(old_db):
    upgrade_database(old_db.dsn, "0006_job_listing")
    with old_db.connect() as conn:
        conn.execute(
            "INSERT INTO ingest_objects (bucket, key, source, etag, status, benchmark)"
            " VALUES ('b', 'r/5_0_n.h5', 's3://b/r/5_0_n.h5', 'e1', 'ok', 'hpl')"
        )
        conn.commit()
    upgrade_database(old_db.dsn)
    rows = fetch_all(old_db, "SELECT key, benchmark, work FROM ingest_objects")
    assert rows == [("r/5_0_n.h5", "hpl", None)]
