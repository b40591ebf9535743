"""Benchmark of the event pipeline on 127.0.0.1: listener acknowledgements, event-to-result
latency, and burst throughput with one and two workers.

    .venv/bin/python bench/events.py                  # all three parts
    .venv/bin/python bench/events.py --parts ack --events 3000 --concurrency 1,8,32,64

Everything is real and local: a fresh database on the test PostgreSQL server
(TEST_POSTGRES_* as for the tests), moto's S3 server in this process, the listener started
exactly as deployed (`uvicorn analysis_module.minio_listener:app`), workers as
`python -m analysis_module.worker`. Load is bounded (a fixed number of requests, a fixed number
of connections). "Acknowledged" means a 2xx, which the listener only sends after the event and
its job are committed; the bench checks the committed count at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis_module.migrate import upgrade_database  # noqa: E402
from tests.support import postgres, s3  # noqa: E402
from tests.support.net import free_port, wait_for_http  # noqa: E402
from tests.support.servers import PythonProcess  # noqa: E402

TOKEN = "bench-webhook-token-" + uuid.uuid4().hex[:8]
PROFILE = ROOT / "examples" / "profiles" / "job_4.h5"  # 16 KB, 2 nodes
TEMPLATE = json.loads((ROOT / "tests" / "data" / "minio-events" / "put_job.json").read_text())


def event_body(bucket: str, key: str, etag: str, size: int) -> bytes:
    body = json.loads(json.dumps(TEMPLATE))
    body["Key"] = f"{bucket}/{key}"
    record = body["Records"][0]
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["object"].update(key=urllib.parse.quote_plus(key, safe=""), eTag=etag, size=size)
    return json.dumps(body).encode()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Connection:
    """One keep-alive HTTP/1.1 connection; a minimal client so the client is not the limit."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def send_all(port: int, bodies: list[bytes], concurrency: int) -> tuple[float, list, int]:
    """POST every body over `concurrency` connections; (seconds, latencies, 2xx count)."""
    pending = iter(bodies)
    latencies: list[float] = []
    acknowledged = 0

    async def client() -> None:
        nonlocal acknowledged
        connection = Connection(port)
        try:
            for body in pending:
                started = time.perf_counter()
                status = await connection.post("/minio-event", body)
                latencies.append(time.perf_counter() - started)
                acknowledged += 200 <= status < 300
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, acknowledged


class Stack:
    """Database, S3 and the listener; workers on demand."""

    def __init__(self) -> None:
        self.db = postgres.create_database("bs_bench")
        upgrade_database(self.db.dsn)
        self.s3 = s3.start()
        self.bucket = self.s3.new_bucket("bench")
        self.env = {
            **self.db.env(),
            **self.s3.env(self.bucket),
            "APP_ENV": "development",
            "LOG_LEVEL": "WARNING",
            "MINIO_WEBHOOK_AUTH_TOKEN": TOKEN,
            "FLAT_PRICE_EUR_PER_KWH": "0.30",
            "CARBON_INTENSITY_G_PER_KWH": "380",
            "INGEST_RESCAN_CRON": "",
        }
        self.port = free_port()
        # the deployed command, on loopback
        command = ["-m", "uvicorn", "analysis_module.minio_listener:app"]
        self.listener = PythonProcess(
            [*command, "--host", "127.0.0.1", "--port", str(self.port)], self.env
        ).start()
        wait_for_http(f"http://127.0.0.1:{self.port}/healthz", is_alive=self.listener.alive)

    def scalar(self, query: str, *params):
        with self.db.connect() as conn:
            return conn.execute(query, params).fetchone()[0]

    def start_workers(self, count: int) -> list[PythonProcess]:
        workers = [PythonProcess(["-m", "analysis_module.worker"], self.env).start()]
        workers += [
            PythonProcess(["-m", "analysis_module.worker"], self.env).start()
            for _ in range(count - 1)
        ]
        deadline = time.monotonic() + 60
        while self.scalar("SELECT count(*) FROM procrastinate_workers") < count:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start:\n" + workers[0].output()[-3000:])
            time.sleep(0.1)
        return workers

    def upload_profiles(self, prefix: str, count: int) -> list[tuple[str, str]]:
        client = self.s3.client()
        data = PROFILE.read_bytes()
        objects = []
        for n in range(count):
            key = f"user-bench01/{prefix}/profile_{n:04d}.h5"  # a file of its own (no job)
            etag = client.put_object(Bucket=self.bucket, Key=key, Body=data)["ETag"].strip('"')
            objects.append((key, etag))
        return objects

    def close(self) -> None:
        self.listener.stop()
        self.s3.server.stop()
        postgres.drop_database(self.db)


def bench_ack(stack: Stack, events: int, levels: list[int]) -> list[dict]:
    """Events/s and latency of durable acknowledgements (no worker: jobs stay queued)."""

    def bodies(count: int) -> list[bytes]:
        run = uuid.uuid4().hex[:6]
        return [
            event_body(stack.bucket, f"user-bench01/ack-{run}/job_{n}.h5", uuid.uuid4().hex, 16176)
            for n in range(count)
        ]

    asyncio.run(send_all(stack.port, bodies(300), 8))  # warm-up: pool, caches, JIT-free paths
    results = []
    for concurrency in levels:
        before = stack.scalar("SELECT count(*) FROM ingest_events")
        seconds, latencies, ok = asyncio.run(send_all(stack.port, bodies(events), concurrency))
        committed = stack.scalar("SELECT count(*) FROM ingest_events") - before
        results.append(
            {
                "concurrency": concurrency,
                "events": events,
                "acknowledged": ok,
                "committed": committed,
                "events_per_s": round(ok / seconds, 1),
                "p50_ms": round(statistics.median(latencies) * 1000, 2),
                "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
                "max_ms": round(max(latencies) * 1000, 2),
            }
        )
        print(json.dumps(results[-1]), flush=True)
    return results


def bench_latency(stack: Stack, samples: int) -> dict:
    """Seconds from POSTing the event of a small profile to its job_summary row."""
    workers = stack.start_workers(1)
    try:
        timings = []
        for key, etag in stack.upload_profiles("latency-" + uuid.uuid4().hex[:6], samples):
            body = event_body(stack.bucket, key, etag, PROFILE.stat().st_size)
            source = f"s3://{stack.bucket}/{key}"
            started = time.perf_counter()
            assert asyncio.run(send_all(stack.port, [body], 1))[2] == 1
            with stack.db.connect() as conn:
                query = "SELECT status FROM job_summary WHERE source = %s"
                while (row := conn.execute(query, (source,)).fetchone()) is None:
                    time.sleep(0.005)
                    if time.perf_counter() - started > 30:
                        raise RuntimeError("no job_summary row after 30 s")
            timings.append(time.perf_counter() - started)
            assert row[0] == "ok", row
        result = {
            "samples": samples,
            "p50_s": round(statistics.median(timings), 3),
            "max_s": round(max(timings), 3),
        }
        print(json.dumps(result), flush=True)
        return result
    finally:
        for worker in workers:
            worker.stop()


def bench_burst(stack: Stack, profiles: int, workers: int) -> dict:
    """Time for `profiles` small profiles to be analysed after a burst of their events."""
    objects = stack.upload_profiles("burst", profiles)
    running = stack.start_workers(workers)
    try:
        size = PROFILE.stat().st_size
        bodies = [event_body(stack.bucket, key, etag, size) for key, etag in objects]
        started = time.perf_counter()
        assert asyncio.run(send_all(stack.port, bodies, 16))[2] == profiles
        query = "SELECT count(*) FROM ingest_objects WHERE status IN ('ok', 'failed')"
        while stack.scalar(query) < profiles:
            time.sleep(0.05)
            if time.perf_counter() - started > 600:
                raise RuntimeError("burst did not finish within 10 minutes")
        seconds = time.perf_counter() - started
    finally:
        for worker in running:
            worker.stop()
    result = {
        "workers": workers,
        "profiles": profiles,
        "seconds": round(seconds, 2),
        "profiles_per_s": round(profiles / seconds, 1),
        "not_ok": stack.scalar("SELECT count(*) FROM ingest_objects WHERE status <> 'ok'"),
    }
    print(json.dumps(result), flush=True)
    return result


def with_stack(part):
    stack = Stack()
    try:
        return part(stack)
    finally:
        stack.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="ack,latency,burst")
    parser.add_argument("--events", type=int, default=2000, help="events per concurrency level")
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--latency-samples", type=int, default=20)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    parts = set(args.parts.split(","))
    report: dict = {"cpus": os.cpu_count()}
    # A fresh database for each part: the per-job tables of one part do not slow the next.
    if "ack" in parts:
        levels = [int(level) for level in args.concurrency.split(",")]
        report["ack"] = with_stack(lambda stack: bench_ack(stack, args.events, levels))
    if "latency" in parts:
        report["latency"] = with_stack(lambda stack: bench_latency(stack, args.latency_samples))
    if "burst" in parts:
        report["burst"] = [
            with_stack(lambda stack, count=int(count): bench_burst(stack, args.burst, count))
            for count in args.workers.split(",")
        ]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
