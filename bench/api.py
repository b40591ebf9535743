"""Load benchmark of the API against the framework's ceiling on this machine.

    .venv/bin/python bench/api.py                 # 32 clients x 20 s per phase
    .venv/bin/python bench/api.py --quick         # ~3 s per phase, a smoke run

Starts everything itself on 127.0.0.1: a fresh PostgreSQL database (the test server, see
scripts/ensure-postgres.sh), moto's S3 server, the API with 2 uvicorn workers, and a minimal
FastAPI app answering a constant (the ceiling), also with 2 workers. A keep-alive HTTP/1.1
client measures the constant app, presign upload, list and GET /jobs in interleaved rounds
(so other load on the machine hits them alike), then presign again while clients log in
continuously (Argon2id must not stall the event loop). Prints requests/s, p50, p99 and the
servers' CPU per request side by side and checks the targets: presign >= half the ceiling;
presign p99 while logins run <= 2x its p99 without.

Load stays on loopback, bounded in clients and time, and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

constant_app = FastAPI()


@constant_app.get("/constant")
async def constant():
    return {"status": "ok"}


# Load generator -------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    seconds: float
    latencies_s: list[float] = field(default_factory=list)
    failures: dict[int, int] = field(default_factory=dict)
    server_cpu_s: float = float("nan")  # CPU time the server's processes spent meanwhile

    @property
    def rps(self) -> float:
        return len(self.latencies_s) / self.seconds

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU per request: unlike req/s, barely moved by other load on the machine."""
        return self.server_cpu_s / max(1, len(self.latencies_s)) * 1e6

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def http_request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _client(port: int, requests: list[bytes], offset: int, deadline: float, phase: Phase):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            phase.latencies_s.append(time.perf_counter() - started)
            if status >= 400:
                phase.failures[status] = phase.failures.get(status, 0) + 1
    finally:
        writer.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a server process and its workers so far."""
    import psutil

    parent = psutil.Process(pid)
    total = 0.0
    for process in [parent, *parent.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


async def load(
    port: int,
    requests: list[bytes],
    clients: int,
    seconds: float,
    name: str,
    pid: int,
    phase: Phase | None = None,
) -> Phase:
    """Run `clients` connections for `seconds`; add to `phase` when given (rounds)."""
    if phase is None:
        phase = Phase(name, 0.0, server_cpu_s=0.0)
    cpu_before = cpu_seconds(pid)
    deadline = time.perf_counter() + seconds
    await asyncio.gather(*(_client(port, requests, c, deadline, phase) for c in range(clients)))
    phase.seconds += seconds
    phase.server_cpu_s += cpu_seconds(pid) - cpu_before
    return phase


# Set-up -----------------------------------------------------------------------------------


def start_services(workers: int):
    from analysis_module.migrate import upgrade_database as upgrade_analysis
    from api_backend.migrate import upgrade_database as upgrade_api
    from tests.support import postgres, s3
    from tests.support.net import free_port, wait_for_http
    from tests.support.servers import AppProcess, PythonProcess

    db = postgres.create_database("bs_bench")
    upgrade_analysis(db.dsn)
    upgrade_api(db.sqlalchemy_url)
    # moto in a process of its own, so it doesn't share the load generator's interpreter.
    port = free_port()
    moto = PythonProcess(["-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], {}).start()
    wait_for_http(f"http://127.0.0.1:{port}/moto-api/", is_alive=moto.alive)
    store = s3.S3Endpoint(url=f"http://127.0.0.1:{port}", server=moto)
    bucket = store.new_bucket("bench")
    quiet = {"UVICORN_LOG_LEVEL": "warning"}  # no access log lines for either app
    env = {
        **db.env(),
        **store.env(bucket),
        **quiet,
        "APP_ENV": "production",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "BUCKET_TOKEN_SECRET": secrets.token_urlsafe(48),
        "LOG_LEVEL": "WARNING",
        "LOGIN_MAX_FAILURES_PER_ADDRESS": "1000000",
    }
    api = AppProcess("api_backend.main:app", env, workers=workers).start()
    ceiling = AppProcess(
        "bench.api:constant_app", quiet, workers=workers, health_path="/constant"
    ).start()
    return db, store, bucket, api, ceiling


def populate(api_url: str, db, bucket: str, objects: int, jobs: int) -> tuple[str, str, str]:
    """A user with `objects` uploads and `jobs` analysed jobs; returns (name, password, token)."""
    username, password = f"bench-{uuid.uuid4().hex[:8]}", "benchmark passphrase " + uuid.uuid4().hex
    with httpx.Client(base_url=api_url, timeout=30) as http:
        user = http.post("/auth/register", json={"username": username, "password": password})
        user.raise_for_status()
        token = user.json()["access_token"]
        namespace = user.json()["user"]["namespace"]
        auth = {"Authorization": f"Bearer {token}"}
        for i in range(objects):
            presign = http.post(
                "/storage/presign/upload", params={"object_name": f"bench/{i}.h5"}, headers=auth
            ).json()
            httpx.put(presign["url"], content=b"x" * 1024, headers=presign["headers"])
    with db.connect() as conn:
        for i in range(jobs):
            key = f"{namespace}/bench/{i}.h5"
            source = f"s3://{bucket}/{key}"
            conn.execute(
                """INSERT INTO ingest_objects (bucket, key, source, owner, status, size_bytes)
                   VALUES (%s, %s, %s, %s, 'ok', 1024)""",
                (bucket, key, source, namespace),
            )
            conn.execute(
                """INSERT INTO job_summary (source, owner, status, analysed_at, energy_j,
                   time_to_solution_s, avg_power_w, cost_eur, co2_g)
                   VALUES (%s, %s, 'ok', now(), 3600, 60, 60, 0.1, 40)""",
                (source, namespace),
            )
    return username, password, token


# Run --------------------------------------------------------------------------------------


@dataclass
class Server:
    port: int
    pid: int


async def measure(api: Server, ceiling: Server, token: str, login: bytes, args) -> list[Phase]:
    auth = {"Authorization": f"Bearer {token}"}
    presign = [
        http_request("POST", f"/storage/presign/upload?object_name=bench/{i}.h5", auth)
        for i in range(64)
    ]
    listing = [http_request("GET", "/storage/list?limit=20", auth)]
    jobs = [http_request("GET", "/jobs?limit=20", auth)]
    constant = [http_request("GET", "/constant", {})]
    n, seconds = args.clients, args.duration

    async def run(server: Server, requests, name, clients=n, duration=seconds, phase=None):
        return await load(server.port, requests, clients, duration, name, server.pid, phase)

    for server, requests in ((ceiling, constant), (api, presign), (api, jobs)):
        await run(server, requests, "warm-up", duration=min(1.0, seconds / 3))
    # Interleaved rounds, so a burst of other work on the machine hits all phases alike.
    plan = [
        (ceiling, constant, "constant FastAPI app (ceiling)"),
        (api, presign, "POST /storage/presign/upload"),
        (api, listing, "GET /storage/list"),
        (api, jobs, "GET /jobs"),
    ]
    phases: list[Phase | None] = [None] * len(plan)
    for _ in range(args.rounds):
        for i, (server, requests, name) in enumerate(plan):
            phases[i] = await run(
                server, requests, name, duration=seconds / args.rounds, phase=phases[i]
            )
    under_logins, logins = await asyncio.gather(
        run(api, presign, "presign while logins run"),
        run(api, [login], "POST /auth/password", clients=args.login_clients),
    )
    # Both phases ran at once on the same server: its CPU can't be split between them.
    under_logins.server_cpu_s = logins.server_cpu_s = float("nan")
    return [*phases, under_logins, logins]


def report(phases: list[Phase], args) -> bool:
    ceiling, presign, _, _, under, _ = phases
    print(
        f"\n{args.clients} clients x {args.duration:g} s per phase ({args.rounds} interleaved "
        f"rounds), {args.workers} uvicorn "
        f"workers per app, {args.login_clients} login clients in the last phase, "
        f"{os.cpu_count()} CPUs\n"
    )
    print(
        f"{'phase':32} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'of ceiling':>10} "
        f"{'CPU us/req':>10}  errors"
    )
    for phase in phases:
        share = f"{phase.rps / ceiling.rps:10.0%}" if phase is not phases[-1] else " " * 10
        cpu = (
            "" if phase.server_cpu_s != phase.server_cpu_s else f"{phase.cpu_us_per_request:10.0f}"
        )
        print(
            f"{phase.name:32} {phase.rps:7.0f} {phase.percentile_ms(0.5):8.2f} "
            f"{phase.percentile_ms(0.99):8.2f} {share} {cpu:>10}  {phase.failures or '-'}"
        )
    share = presign.rps / ceiling.rps
    stretch = under.percentile_ms(0.99) / presign.percentile_ms(0.99)
    ok_share, ok_stretch = share >= 0.5, stretch <= 2.0
    print(
        f"\npresign req/s / ceiling: {share:.0%} (target >= 50%): "
        f"{'ok' if ok_share else 'MISSED'}; server CPU per request: "
        f"{presign.cpu_us_per_request / ceiling.cpu_us_per_request:.2f}x the ceiling's"
    )
    print(
        f"presign p99 while logins run / alone: {stretch:.2f}x (target <= 2x): "
        f"{'ok' if ok_stretch else 'MISSED'}"
    )
    errors = any(p.failures for p in phases)
    if errors:
        print("some requests failed: see the errors column")
    return ok_share and ok_stretch and not errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--login-clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds per phase")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="3 s per phase")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds = 3.0, 1
    if args.clients < 1 or args.clients > 256 or not 0 < args.duration <= 120:
        parser.error("keep the load bounded: 1-256 clients, at most 120 s per phase")

    from tests.support import postgres

    db, store, bucket, api, ceiling = start_services(args.workers)
    try:
        username, password, token = populate(api.base_url, db, bucket, objects=20, jobs=20)
        login = http_request(
            "POST",
            "/auth/password",
            {"Content-Type": "application/json"},
            json.dumps({"username": username, "password": password}).encode(),
        )
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        phases = asyncio.run(
            measure(
                Server(api.port, api.proc.pid),
                Server(ceiling.port, ceiling.proc.pid),
                token,
                login,
                args,
            )
        )
    finally:
        api.stop()
        ceiling.stop()
        store.server.stop()
        postgres.drop_database(db)
    ok = report(phases, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    p.name: {
                        "rps": p.rps,
                        "server_cpu_us_per_request": (
                            None if math.isnan(p.server_cpu_s) else p.cpu_us_per_request
                        ),
                        "p50_ms": p.percentile_ms(0.5),
                        "p99_ms": p.percentile_ms(0.99),
                        "errors": p.failures,
                    }
                    for p in phases
                },
                indent=2,
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
