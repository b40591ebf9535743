"""Fixtures of the ingestion tests: databases with the analysis schema only, the environment
of our listener and worker, and the two as real processes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import httpx
import pytest

from analysis_module.migrate import upgrade_database
from tests.ingest.support import AUTH, TOKEN
from tests.support import postgres
from tests.support.postgres import PgDatabase
from tests.support.servers import AppProcess, PythonProcess

LISTENER_APP = "analysis_module.minio_listener:app"
WORKER_ARGS = ["-m", "analysis_module.worker"]

# Short timings so recoveries happen within seconds; production defaults are in settings.py.
FAST = {
    "APP_ENV": "development",
    "LOG_LEVEL": "INFO",
    "MINIO_WEBHOOK_AUTH_TOKEN": TOKEN,
    "FLAT_PRICE_EUR_PER_KWH": "0.30",
    "CARBON_INTENSITY_G_PER_KWH": "380",
    "INGEST_RESCAN_CRON": "",
    "INGEST_RETRY_BASE_S": "0.25",
    "INGEST_RETRY_MAX_S": "2",
    "INGEST_MAX_ATTEMPTS": "12",
    "INGEST_DB_WAIT_S": "20",
    "WORKER_POLL_INTERVAL_S": "0.5",
    "WORKER_HEARTBEAT_S": "0.5",
    "WORKER_STALLED_AFTER_S": "3",
    "WORKER_STALLED_CHECK_S": "0.5",
    "WORKER_SHUTDOWN_GRACE_S": "5",
    "S3_CONNECT_TIMEOUT_S": "1",
    "S3_READ_TIMEOUT_S": "20",
    "S3_MAX_ATTEMPTS": "1",
    "LISTENER_DB_TIMEOUT_S": "2",
}


def migrated_database() -> PgDatabase:
    db = postgres.create_database("bs_ingest")
    upgrade_database(db.dsn)
    return db


@pytest.fixture
def ingest_db() -> Iterator[PgDatabase]:
    """A database of this test with the analysis schema (results, ingest tables, queue)."""
    db = migrated_database()
    yield db
    postgres.drop_database(db)


@pytest.fixture(scope="module")
def module_db() -> Iterator[PgDatabase]:
    db = migrated_database()
    yield db
    postgres.drop_database(db)


@pytest.fixture(scope="module")
def module_bucket(s3_endpoint) -> str:
    return s3_endpoint.new_bucket("ingest")


def service_env(db: PgDatabase, s3_endpoint, bucket: str, **overrides: str) -> dict[str, str]:
    """What a listener or worker of these tests reads from its environment."""
    return {**FAST, **db.env(), **s3_endpoint.env(bucket), **overrides}


@contextlib.contextmanager
def running(process: PythonProcess) -> Iterator[PythonProcess]:
    """Start, and on the way out stop; the log is printed when the test failed."""
    process.start()
    try:
        yield process
    except BaseException:
        print(f"--- output of {process.args}:\n{process.output()[-6000:]}")
        raise
    finally:
        process.stop()


JOB_QUIET_S = "3"  # INGEST_JOB_QUIET_S of the job-arrival tests


@contextlib.contextmanager
def job_pipeline(
    db: PgDatabase, s3_endpoint, name: str, *, suffix: tuple[str, ...] = (".h5",)
) -> Iterator[str]:
    """A new bucket whose creations and removals (of objects ending in `suffix`) the gateway
    pushes to a running listener, and a worker; jobs are analysed JOB_QUIET_S after their last
    file, by the left rule. Yields the bucket."""
    bucket = s3_endpoint.new_bucket(name)
    env = service_env(
        db, s3_endpoint, bucket, INGEST_JOB_QUIET_S=JOB_QUIET_S, INTEGRATION_RULE="left"
    )
    with running(listener_process(env)) as listener, running(worker_process(env)):
        s3_endpoint.notify(
            bucket,
            listener.base_url + "/ceph-event",
            opaque_data=TOKEN,
            suffix=suffix,
            events=("s3:ObjectCreated:*", "s3:ObjectRemoved:*"),
        )
        yield bucket


def listener_process(env: dict[str, str]) -> AppProcess:
    return AppProcess(LISTENER_APP, env)


def worker_process(env: dict[str, str], *args: str) -> PythonProcess:
    return PythonProcess([*WORKER_ARGS, *args], env)


@pytest.fixture
def post_event() -> Callable[..., httpx.Response]:
    """POST a body to a listener with the right token (or the given headers)."""
    client = httpx.Client(timeout=10.0)

    def post(base_url: str, body, *, headers=None, path: str = "/minio-event") -> httpx.Response:
        if isinstance(body, bytes | str):
            return client.post(base_url + path, content=body, headers=headers or AUTH)
        return client.post(base_url + path, json=body, headers=headers or AUTH)

    yield post
    client.close()
