"""Helpers of the ingestion tests: MinIO-shaped events, polling, a faulty S3 path, a private
PostgreSQL cluster that a test may restart without disturbing anyone else's server."""

from __future__ import annotations

import contextlib
import copy
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from tests.support.net import free_port
from tests.support.postgres import PgDatabase

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = DATA / "minio-events"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "profiles"
TOKEN = "test-webhook-token-4f9a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text())


def minio_event(
    bucket: str,
    key: str,
    *,
    etag: str | None = None,
    size: int | None = None,
    event_name: str = "s3:ObjectCreated:Put",
    version_id: str | None = None,
) -> dict[str, Any]:
    """A notification body exactly as MinIO builds it (key query-escaped in the record)."""
    body = copy.deepcopy(sample("put_job.json" if etag else "delete_job.json"))
    body["EventName"] = event_name
    body["Key"] = f"{bucket}/{key}"
    record = body["Records"][0]
    record["eventName"] = event_name
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    obj = record["s3"]["object"]
    obj["key"] = urllib.parse.quote_plus(key, safe="")
    if etag:
        obj["eTag"] = etag
        obj["size"] = size if size is not None else 0
    if version_id:
        obj["versionId"] = version_id
    return body


def upload(client, bucket: str, key: str, data: bytes) -> str:
    """Put the object; returns its ETag without quotes."""
    return client.put_object(Bucket=bucket, Key=key, Body=data)["ETag"].strip('"')


def own_name(name: str) -> str:
    """A key name that follows no Slurm naming pattern (docs/jobs.md): the object is a job of
    its own, analysed by its `analyse_object` job (not assembled with others)."""
    return f"upload {name}"


def profile_bytes(name: str = "job_4.h5") -> bytes:
    return (EXAMPLES / name).read_bytes()


def wait_until(
    check: Callable[[], Any], *, timeout_s: float = 30.0, interval_s: float = 0.1, what: str = ""
) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (psycopg.OperationalError, OSError) as exc:
            last_error = exc
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what} ({last_error})")


def fetch_all(db: PgDatabase, query: str, *params) -> list[tuple]:
    with db.connect() as conn:
        return conn.execute(query, params).fetchall()


def object_row(db: PgDatabase, bucket: str, key: str) -> dict[str, Any] | None:
    with db.connect() as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        cursor.execute("SELECT * FROM ingest_objects WHERE bucket = %s AND key = %s", (bucket, key))
        return cursor.fetchone()


def summary_row(db: PgDatabase, source: str) -> dict[str, Any] | None:
    with db.connect() as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        cursor.execute("SELECT * FROM job_summary WHERE source = %s", (source,))
        return cursor.fetchone()


def jobs_of(db: PgDatabase, source: str) -> list[tuple]:
    """(task, status, attempts) of every queue job on the object, oldest first."""
    return fetch_all(
        db,
        "SELECT task_name, status::text, attempts FROM procrastinate_jobs WHERE lock = %s"
        " ORDER BY id",
        source,
    )


def events_of(db: PgDatabase, bucket: str, key: str) -> list[str]:
    rows = fetch_all(
        db,
        "SELECT disposition FROM ingest_events WHERE bucket = %s AND key = %s ORDER BY id",
        bucket,
        key,
    )
    return [row[0] for row in rows]


class FaultyLink:
    """A TCP relay to `upstream`: `pass`es bytes, `stall`s new connections, or `refuse`s them.

    Stalled connections are held open and relayed once the link passes again, like a network
    that hangs and recovers; refusing closes the listening socket (connection refused).
    """

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._passing = threading.Event()
        self._passing.set()
        self._closed = False
        self._server: socket.socket | None = None
        self._listen()

    def _listen(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        while not self._passing.wait(0.1):
            if self._closed:
                client.close()
                return
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.close()
            return
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(src, dst), daemon=True).start()

    def stall(self) -> None:
        self._passing.clear()

    def passes(self) -> None:
        if self._server is None:
            self._listen()
        self._passing.set()

    def refuse(self) -> None:
        if self._server is not None:
            # shutdown() first: a bare close() leaves the thread blocked in accept() holding
            # the socket, which then still takes one more connection.
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None

    def close(self) -> None:
        self._closed = True
        self.refuse()
        self._passing.set()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class PrivatePostgres:
    """A throw-away PostgreSQL cluster of this test only, which it may stop and start."""

    def __init__(self) -> None:
        self.bindir = _postgres_bindir()
        self.datadir = Path(tempfile.mkdtemp(prefix="pg-private-"))
        shutil.chown(self.datadir, "postgres")
        self.port = free_port()
        initdb = [str(self.bindir / "initdb"), "-D", str(self.datadir), "--auth=trust"]
        self._as_postgres([*initdb, "-U", "postgres", "--no-sync"])
        (self.datadir / "postgresql.auto.conf").write_text("fsync = off\n")
        self.db = PgDatabase("127.0.0.1", self.port, "postgres", "postgres")

    def _as_postgres(self, args: list[str]) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def _pg_ctl(self, *args: str) -> None:
        self._as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-w", *args])

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k /tmp"
        self._pg_ctl("-l", str(self.datadir / "server.log"), "-o", options, "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)


def _postgres_bindir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not candidates:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
    return candidates[-1].parent
