"""Opening the ingest store: a psycopg pool on the settings' database with the queue app on
it (`open_ingest_store`), the pool's idle check, and the wait for PostgreSQL at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator

import procrastinate
import psycopg
import psycopg_pool

from analysis_module.connectors import queue
from analysis_module.connectors.ingest_store import IngestStore
from analysis_module.pipeline_core.errors import TransientError
from analysis_module.pipeline_core.text import one_line
from analysis_module.settings import AnalysisSettings

log = logging.getLogger(__name__)


class IdleCheck:
    """Pool hooks: test a connection before handing it out only if it sat idle for a while.

    Checking every checkout costs a round trip per transaction (a quarter of the listener's
    throughput). A connection in use moments ago is almost surely alive; if the server went
    away meanwhile, that one transaction fails as `TransientError` (503 to MinIO, a retry for
    a job) and the pool drops the broken connection.
    """

    def __init__(self, idle_s: float = 1.0):
        self.idle_s = idle_s
        self._returned_at: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    async def returned(self, conn: psycopg.AsyncConnection) -> None:
        self._returned_at[conn] = time.monotonic()

    async def check(self, conn: psycopg.AsyncConnection) -> None:
        returned_at = self._returned_at.get(conn)
        if returned_at is None or time.monotonic() - returned_at > self.idle_s:
            await psycopg_pool.AsyncConnectionPool.check_connection(conn)


@contextlib.asynccontextmanager
async def open_ingest_store(
    settings: AnalysisSettings,
    *,
    app: procrastinate.App | None = None,
    max_size: int = 4,
    timeout_s: float = 30.0,
) -> AsyncIterator[IngestStore]:
    """A pool on the settings' database, the queue app opened on it, and the store on both."""
    idle_check = IdleCheck()
    pool = psycopg_pool.AsyncConnectionPool(
        settings.postgres_dsn(),
        min_size=1,
        max_size=max_size,
        timeout=timeout_s,
        open=False,
        check=idle_check.check,
        reset=idle_check.returned,
        kwargs={"application_name": "benchsuite-ingest"},
    )
    await pool.open(wait=False)
    app = app or queue.build_queue_app(settings)
    await app.open_async(pool)
    try:
        yield IngestStore(pool, app, queue_name=settings.ingest_queue)
    finally:
        await app.close_async()
        await pool.close()


async def wait_for_database(settings: AnalysisSettings) -> None:
    """Wait for PostgreSQL to accept connections, up to INGEST_DB_WAIT_S."""
    deadline = time.monotonic() + settings.ingest_db_wait_s
    delay = 0.2
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(settings.postgres_dsn(), connect_timeout=5)
            await conn.close()
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() + delay > deadline:
                raise TransientError(
                    f"database unreachable: {one_line(exc, max_chars=300)}"
                ) from exc
            log.info("waiting for PostgreSQL: %s", one_line(exc, max_chars=300))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
