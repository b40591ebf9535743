"""The ingest tables (`ingest_objects`, `ingest_events`) and job deferral, on one connection.

`IngestStore.transaction()` hands out an `IngestTx`: its queries and the procrastinate defers
run in the same PostgreSQL transaction, so an event is recorded, its object updated and its job
queued together or not at all. Database outages surface as `TransientError`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

import procrastinate
import psycopg
import psycopg_pool
from procrastinate import exceptions as queue_exceptions
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from analysis_module.connectors import queue
from analysis_module.pipeline_core.errors import TransientError
from analysis_module.pipeline_core.ingest_objects import Content, FailureKind, ObjectRow, Status
from analysis_module.pipeline_core.text import one_line

log = logging.getLogger(__name__)

STATUS_COUNTS_QUERY = """
    SELECT 'queue' AS kind, status::text AS status, count(*) AS n FROM procrastinate_jobs
    WHERE queue_name = %(queue)s AND status IN ('todo', 'doing') GROUP BY status
    UNION ALL
    SELECT 'objects', status::text, count(*) FROM ingest_objects GROUP BY status
"""

OBJECT_COLUMNS = (
    "bucket, key, source, owner, etag, version_id, size_bytes, status, attempts, error,"
    " failure_kind, worker_kills, timeouts, job_source, benchmark, work"
)


def _is_connection_problem(exc: BaseException) -> bool:
    while exc is not None:
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return True
        if isinstance(exc, psycopg_pool.PoolTimeout):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class IngestStore:
    """Transactions on the ingest tables through a psycopg async pool shared with the queue."""

    def __init__(
        self, pool: psycopg_pool.AsyncConnectionPool, app: procrastinate.App, *, queue_name: str
    ):
        self.pool = pool
        self.app = app
        self.queue_name = queue_name

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[IngestTx]:
        try:
            async with self.pool.connection() as conn, conn.transaction():
                yield IngestTx(conn, self.app, self.queue_name)
        except (
            psycopg.Error,
            psycopg_pool.PoolTimeout,
            queue_exceptions.ConnectorException,
        ) as exc:
            if _is_connection_problem(exc):
                raise TransientError(
                    f"database unreachable: {one_line(exc, max_chars=300)}"
                ) from exc
            raise

    async def ping(self) -> None:
        async with self.transaction() as tx:
            await tx.conn.execute("SELECT 1 FROM ingest_objects LIMIT 1")

    async def prune_events(self, *, older_than_days: int) -> int:
        """Delete event log entries older than that; returns how many."""
        async with self.transaction() as tx:
            cursor = await tx.conn.execute(
                "DELETE FROM ingest_events WHERE received_at < now() - make_interval(days => %s)",
                (older_than_days,),
            )
            return cursor.rowcount

    async def snapshot(self, bucket: str, keys: list[str]) -> dict[str, tuple[ObjectRow, bool]]:
        """Rows of these keys without locking them, each with whether a job is waiting/running."""
        async with self.transaction() as tx:
            return await tx.snapshot(bucket, keys)

    async def status_counts(self, queue_name: str) -> dict[tuple[str, str], int]:
        """{("queue", "todo"|"doing"): jobs, ("objects", status): rows}, in one query."""
        async with self.transaction() as tx:
            cursor = await tx.conn.execute(STATUS_COUNTS_QUERY, {"queue": queue_name})
            rows = await cursor.fetchall()
        return {(kind, status): n for kind, status, n in rows}


class IngestTx:
    """Queries inside one open transaction."""

    def __init__(self, conn: psycopg.AsyncConnection, app: procrastinate.App, queue_name: str):
        self.conn = conn
        self.app = app
        self.queue_name = queue_name

    async def _one(self, query: str, params: dict[str, Any]) -> dict[str, Any] | None:
        async with self.conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(query, params)
            return await cursor.fetchone()

    async def lock_object(self, bucket: str, key: str) -> ObjectRow | None:
        record = await self._one(
            f"SELECT {OBJECT_COLUMNS} FROM ingest_objects"  # noqa: S608 - fixed column list
            " WHERE bucket = %(bucket)s AND key = %(key)s FOR UPDATE",
            {"bucket": bucket, "key": key},
        )
        return ObjectRow.from_record(record) if record else None

    async def lock_or_create_object(
        self, *, bucket: str, key: str, source: str, owner: str | None
    ) -> tuple[ObjectRow, bool]:
        """The locked row, inserted as `received` first when missing; True when inserted."""
        record = await self._one(
            f"""INSERT INTO ingest_objects (bucket, key, source, owner, status)
                VALUES (%(bucket)s, %(key)s, %(source)s, %(owner)s, 'received')
                ON CONFLICT (bucket, key) DO NOTHING
                RETURNING {OBJECT_COLUMNS}""",  # noqa: S608 - fixed column list
            {"bucket": bucket, "key": key, "source": source, "owner": owner},
        )
        if record is not None:  # the insert holds the row lock until we commit
            return ObjectRow.from_record(record), True
        row = await self.lock_object(bucket, key)
        assert row is not None, "a conflicting row exists"
        return row, False

    async def log_event(
        self,
        *,
        disposition: str,
        reason: str | None,
        payload: Any,
        event_name: str | None = None,
        bucket: str | None = None,
        key: str | None = None,
        etag: str | None = None,
        version_id: str | None = None,
    ) -> None:
        await self.conn.execute(
            """INSERT INTO ingest_events
                   (event_name, bucket, key, etag, version_id, disposition, reason, payload)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
            (event_name, bucket, key, etag, version_id, disposition, reason, Jsonb(payload)),
        )

    async def queue_analysis(self, row: ObjectRow, content: Content, *, new_content: bool) -> None:
        """Set the row `queued` for `content` and defer its job (one transaction).

        New content, or a failed one queued again, starts with a clean record of kills and
        timeouts; a lost job queued again keeps them.
        """
        await self.conn.execute(
            """UPDATE ingest_objects SET
                   status = 'queued', etag = %(etag)s,
                   version_id = COALESCE(%(version_id)s, version_id),
                   size_bytes = COALESCE(%(size)s, size_bytes),
                   attempts = CASE WHEN %(new)s THEN 0 ELSE attempts END,
                   worker_kills = CASE WHEN %(fresh)s THEN 0 ELSE worker_kills END,
                   timeouts = CASE WHEN %(fresh)s THEN 0 ELSE timeouts END,
                   lost_attempt = CASE WHEN %(fresh)s THEN NULL ELSE lost_attempt END,
                   error = NULL, failure_kind = NULL,
                   received_at = CASE WHEN %(new)s THEN now() ELSE received_at END,
                   queued_at = now(), started_at = NULL, finished_at = NULL, updated_at = now()
               WHERE bucket = %(bucket)s AND key = %(key)s""",
            {
                "etag": content.etag,
                "version_id": content.version_id,
                "size": content.size_bytes,
                "new": new_content or row.etag != content.etag,
                "fresh": new_content or row.etag != content.etag or row.status is Status.FAILED,
                "bucket": row.bucket,
                "key": row.key,
            },
        )
        await queue.defer_analysis(
            self.app,
            self.conn,
            queue=self.queue_name,
            bucket=row.bucket,
            key=row.key,
            etag=content.etag,
        )

    async def queue_removal(self, row: ObjectRow, *, reason: str | None = None) -> None:
        """Set the row `removed` and defer the job that marks its results removed."""
        await self.conn.execute(
            """UPDATE ingest_objects SET status = 'removed', error = %(reason)s,
                   finished_at = now(), updated_at = now()
               WHERE bucket = %(bucket)s AND key = %(key)s""",
            {"reason": reason, "bucket": row.bucket, "key": row.key},
        )
        await queue.defer_removal(
            self.app, self.conn, queue=self.queue_name, bucket=row.bucket, key=row.key
        )

    async def mark_running(self, row: ObjectRow) -> None:
        await self.conn.execute(
            """UPDATE ingest_objects SET status = 'running', attempts = attempts + 1,
                   started_at = now(), finished_at = NULL, updated_at = now()
               WHERE bucket = %s AND key = %s""",
            (row.bucket, row.key),
        )

    async def mark_waiting_retry(self, row: ObjectRow, reason: str) -> None:
        await self.conn.execute(
            """UPDATE ingest_objects SET status = 'queued', error = %s, queued_at = now(),
                   updated_at = now()
               WHERE bucket = %s AND key = %s""",
            (reason, row.bucket, row.key),
        )

    async def note_timeout(self, row: ObjectRow, reason: str) -> None:
        """The run of this attempt outlasted the time budget; the job is queued again."""
        await self.conn.execute(
            """UPDATE ingest_objects SET status = 'queued', error = %s, timeouts = timeouts + 1,
                   queued_at = now(), updated_at = now()
               WHERE bucket = %s AND key = %s""",
            (reason, row.bucket, row.key),
        )

    async def note_worker_lost(self, source: str) -> bool:
        """The running analysis of `source` lost its worker; counted once per attempt."""
        cursor = await self.conn.execute(
            """UPDATE ingest_objects SET worker_kills = worker_kills + 1,
                   lost_attempt = attempts, error = 'the worker running the analysis died',
                   updated_at = now()
               WHERE source = %s AND status = 'running'
                 AND lost_attempt IS DISTINCT FROM attempts""",
            (source,),
        )
        return cursor.rowcount > 0

    async def note_job_worker_lost(self, job_id: int) -> bool:
        """The running job analysis `job_id` lost its worker; counted once per attempt."""
        return await queue.note_job_worker_lost(self.conn, job_id)

    async def mark_finished(
        self,
        row: ObjectRow,
        *,
        status: Status,
        error: str | None,
        content: Content | None = None,
        failure_kind: FailureKind | None = None,
    ) -> None:
        """`ok` or `failed` (with who is to blame), taking the analysed content's ETag."""
        content = content or Content(row.etag, row.version_id, row.size_bytes)
        kind = failure_kind.value if failure_kind and status is Status.FAILED else None
        await self.conn.execute(
            """UPDATE ingest_objects SET status = %(status)s, error = %(error)s,
                   failure_kind = %(kind)s,
                   etag = %(etag)s, version_id = COALESCE(%(version_id)s, version_id),
                   size_bytes = COALESCE(%(size)s, size_bytes),
                   finished_at = now(), updated_at = now()
               WHERE bucket = %(bucket)s AND key = %(key)s""",
            {
                "status": status.value,
                "error": error,
                "kind": kind,
                "etag": content.etag,
                "version_id": content.version_id,
                "size": content.size_bytes,
                "bucket": row.bucket,
                "key": row.key,
            },
        )

    async def set_job_member(
        self, row: ObjectRow, *, job_source: str, benchmark: str | None, work: str | None = None
    ) -> None:
        """The object belongs to the job `job_source`; `benchmark` and `work` are what its
        upload said."""
        await self.conn.execute(
            """UPDATE ingest_objects SET job_source = %s, benchmark = %s, work = %s,
                   updated_at = now()
               WHERE bucket = %s AND key = %s""",
            (job_source, benchmark, work, row.bucket, row.key),
        )

    async def queue_job_analysis(self, bucket: str, job_source: str, *, quiet_s: float) -> bool:
        """The job's analysis, `quiet_s` from now (a waiting one moves back); True when new."""
        return await queue.defer_job_analysis(
            self.app,
            self.conn,
            queue=self.queue_name,
            bucket=bucket,
            job_source=job_source,
            quiet_s=quiet_s,
        )

    async def job_members(self, bucket: str, job_source: str) -> list[ObjectRow]:
        """The job's objects that are not removed, by key, without locking them."""
        async with self.conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(
                f"""SELECT {OBJECT_COLUMNS} FROM ingest_objects
                    WHERE bucket = %s AND job_source = %s AND status <> 'removed'
                    ORDER BY key""",  # noqa: S608 - fixed column list
                (bucket, job_source),
            )
            return [ObjectRow.from_record(record) for record in await cursor.fetchall()]

    async def unjoined_csv(self, bucket: str, prefix: str) -> list[ObjectRow]:
        """`.csv` objects under `prefix` that were recorded but joined no job yet (LIKWID
        output that arrived before its job's profiles), by key, without locking them."""
        async with self.conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(
                f"""SELECT {OBJECT_COLUMNS} FROM ingest_objects
                    WHERE bucket = %s AND starts_with(key, %s) AND job_source IS NULL
                      AND lower(key) LIKE '%%.csv' AND status IN ('ok', 'failed')
                    ORDER BY key""",  # noqa: S608 - fixed column list
                (bucket, prefix),
            )
            return [ObjectRow.from_record(record) for record in await cursor.fetchall()]

    async def snapshot(self, bucket: str, keys: list[str]) -> dict[str, tuple[ObjectRow, bool]]:
        async with self.conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(
                f"""SELECT {OBJECT_COLUMNS}, EXISTS (
                        SELECT 1 FROM procrastinate_jobs j
                        WHERE j.lock = o.source AND j.status IN ('todo', 'doing')
                    ) AS job_alive
                    FROM ingest_objects o
                    WHERE bucket = %(bucket)s AND key = ANY(%(keys)s)""",  # noqa: S608
                {"bucket": bucket, "keys": keys},
            )
            records = await cursor.fetchall()
        result = {}
        for record in records:
            alive = record.pop("job_alive")
            result[record["key"]] = (ObjectRow.from_record(record), alive)
        return result

    async def keys_not_in(self, bucket: str, prefix: str, seen: Iterable[str]) -> list[str]:
        """Keys under `prefix` with live rows (not removed) that a listing did not return."""
        async with self.conn.cursor() as cursor:
            await cursor.execute(
                """SELECT key FROM ingest_objects
                   WHERE bucket = %(bucket)s AND starts_with(key, %(prefix)s)
                     AND status <> 'removed' AND NOT (key = ANY(%(seen)s))""",
                {"bucket": bucket, "prefix": prefix, "seen": list(seen)},
            )
            return [record[0] for record in await cursor.fetchall()]
