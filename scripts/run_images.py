"""Runs the built images the way a deployment does and checks what an operator would check.

Called by scripts/check-images (which builds the images and starts nothing else). Here: a
fresh database on the test PostgreSQL, a Ceph gateway with a bucket (tests/support/rgw.py),
then, as containers on the host network bound to 127.0.0.1 on free ports: the API, the
listener and a worker. Checks: every health and readiness endpoint and each image's own
HEALTHCHECK; a profile uploaded through the API's presigned URL is notified by the gateway to
the listener and analysed by the worker; the batch CLI of the analysis image analyses the
example profiles; every container stops cleanly on SIGTERM. Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.support import postgres, rgw  # noqa: E402
from tests.support.net import free_port, wait_for_http  # noqa: E402

PASSWORD = "a long enough passphrase for the image check"  # noqa: S105 - a throwaway account
EXAMPLE_JOB_5_ENERGY_J = 3150.0  # README: job 5 with the left rule
EXAMPLE_JOB_5_TRAPEZOID_J = 3200.0  # and with the default rule, as the worker runs it


def say(message: str) -> None:
    print(f"run-images: {message}", file=sys.stderr, flush=True)


def podman(*args: str, check: bool = True, timeout_s: float = 300) -> str:
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"podman {args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def env_file(directory: Path, name: str, values: dict[str, str]) -> Path:
    path = directory / f"{name}.env"
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    path.chmod(0o600)
    return path


class Containers:
    """Started containers by name; `stop_all` stops each with SIGTERM and returns exit codes."""

    def __init__(self, suffix: str):
        self.suffix = suffix
        self.names: list[str] = []

    def run(self, role: str, image: str, env: Path, *command: str, extra=()) -> str:
        name = f"benchsuite-check-{role}-{self.suffix}"
        podman("run", "-d", "--name", name, "--network=host", "--env-file", str(env),
               *extra, image, *command)  # fmt: skip
        self.names.append(name)
        return name

    def logs(self, name: str) -> str:
        return podman("logs", name, check=False)[-3000:]

    def healthcheck(self, name: str) -> None:
        done = subprocess.run(["podman", "healthcheck", "run", name], capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"HEALTHCHECK of {name}: {done.stdout} {done.stderr}".strip())

    def stop_all(self) -> dict[str, int]:
        codes = {}
        for name in self.names:
            podman("stop", "-t", "30", name, check=False)
            codes[name] = int(podman("inspect", "-f", "{{.State.ExitCode}}", name).strip())
        return codes

    def remove_all(self) -> None:
        for name in self.names:
            podman("rm", "-f", name, check=False)


def wait_ok(url: str, what: str, timeout_s: float = 120) -> None:
    started = time.monotonic()
    wait_for_http(url, timeout_s=timeout_s)
    answer = httpx.get(url, timeout=5)
    if answer.status_code != 200:
        raise AssertionError(f"{what} {url} answered {answer.status_code}: {answer.text[:300]}")
    say(f"{what} {url.split('/', 3)[-1]}: 200 after {time.monotonic() - started:.1f} s")


def upload_through_the_api(api_url: str, name: str) -> str:
    with httpx.Client(base_url=api_url, timeout=30) as http:
        username = f"check-{uuid.uuid4().hex[:8]}"
        answer = http.post("/auth/register", json={"username": username, "password": PASSWORD})
        assert answer.status_code == 201, answer.text
        auth = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        presign = http.post("/storage/presign/upload", params={"object_name": name}, headers=auth)
        assert presign.status_code == 200, presign.text
        body = presign.json()
        data = (ROOT / "examples" / "profiles" / "job_5.h5").read_bytes()
        put = httpx.put(body["url"], content=data, headers=body["headers"], timeout=30)
        assert put.status_code == 200, put.text
        return body["key"]


def wait_analysed(db: postgres.PgDatabase, source: str, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception), db.connect() as conn:
            row = conn.execute(
                "SELECT status, energy_j FROM job_summary WHERE source = %s", (source,)
            ).fetchone()
            if row:
                return {"status": row[0], "energy_j": row[1]}
        time.sleep(0.5)
    raise AssertionError(f"{source} was not analysed within {timeout_s} s")


def run_batch_cli(image: str) -> None:
    profiles = ROOT / "examples" / "profiles"
    database = "/tmp/check.duckdb"  # noqa: S108 - inside the throwaway container
    command = ["podman", "run", "--rm", "--network=none", "-v", f"{profiles}:/profiles:ro", image,
               "python", "analysis_module/duckdb_analysis.py", "--source", "/profiles",
               "--db", database, "--integration", "left", "--json"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise AssertionError(f"batch CLI exited {done.returncode}: {done.stderr[-2000:]}")
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    # job 5 twice: the merged file, and its node-step files in nodestep/ assembled as one job
    job_5 = [r for r in results if r.get("source", "").endswith("/job_5")]
    assert len(job_5) == 2 and {r["energy_j"] for r in job_5} == {EXAMPLE_JOB_5_ENERGY_J}, job_5
    say(f"batch CLI: {len(results)} jobs analysed, job 5 = {job_5[0]['energy_j']} J")


@contextlib.contextmanager
def backing_services() -> Iterator[tuple[postgres.PgDatabase, rgw.RgwEndpoint, str]]:
    started = time.monotonic()
    db = postgres.create_database("bs_images")
    gateway = rgw.start()
    say(f"PostgreSQL database and Ceph gateway ready in {time.monotonic() - started:.1f} s")
    try:
        yield db, gateway, gateway.new_bucket("images")
    finally:
        gateway.server.stop()
        postgres.drop_database(db)


def check(api_image: str, analysis_image: str, workdir: Path) -> None:
    with backing_services() as (db, gateway, bucket):
        token = secrets.token_urlsafe(32)
        ports = {"api": free_port(), "listener": free_port(), "worker": free_port()}
        common = {**db.env(), **gateway.env(bucket), "APP_ENV": "production", "LOG_JSON": "true"}
        api_env = env_file(workdir, "api", {
            **common, "JWT_SECRET": secrets.token_urlsafe(48),
            "BUCKET_TOKEN_SECRET": secrets.token_urlsafe(48),
            "HEALTHCHECK_URL": f"http://127.0.0.1:{ports['api']}/healthz",
        })  # fmt: skip
        analysis = {**common, "MINIO_WEBHOOK_AUTH_TOKEN": token, "FLAT_PRICE_EUR_PER_KWH": "0.30",
                    "WORKER_METRICS_HOST": "127.0.0.1",
                    "WORKER_METRICS_PORT": str(ports["worker"])}  # fmt: skip
        listener_url = f"http://127.0.0.1:{ports['listener']}"
        listener_env = env_file(workdir, "listener", {
            **analysis, "HEALTHCHECK_URL": f"{listener_url}/readyz"})  # fmt: skip
        worker_health = f"http://127.0.0.1:{ports['worker']}/healthz"
        worker_env = env_file(workdir, "worker", {**analysis, "HEALTHCHECK_URL": worker_health})
        containers = Containers(uuid.uuid4().hex[:8])
        try:
            uvicorn = ["uvicorn", "--host", "127.0.0.1", "--port"]
            names = {
                "api": containers.run("api", api_image, api_env, uvicorn[0],
                                      "api_backend.main:app", *uvicorn[1:], str(ports["api"])),
                "listener": containers.run("listener", analysis_image, listener_env, uvicorn[0],
                                           "analysis_module.minio_listener:app", *uvicorn[1:],
                                           str(ports["listener"])),
                "worker": containers.run("worker", analysis_image, worker_env),
            }  # fmt: skip
            for role, port in ports.items():
                for path in ("/healthz", "/readyz"):
                    wait_ok(f"http://127.0.0.1:{port}{path}", role)
            for name in names.values():
                containers.healthcheck(name)
            say("each image's HEALTHCHECK: healthy")

            gateway.notify(bucket, f"{listener_url}/ceph-event", opaque_data=token)
            key = upload_through_the_api(f"http://127.0.0.1:{ports['api']}", "check/job_5.h5")
            # a merged file `job_5.h5` is Slurm job 5: its results are keyed by the job
            result = wait_analysed(db, f"s3://{bucket}/{key.removesuffix('.h5')}")
            expected = {"status": "ok", "energy_j": EXAMPLE_JOB_5_TRAPEZOID_J}
            assert result == expected, result
            say(f"upload -> gateway notification -> listener -> worker: {result}")
            run_batch_cli(analysis_image)
            codes = containers.stop_all()
            say(f"stopped with SIGTERM, exit codes {codes}")
            assert set(codes.values()) == {0}, codes
        except BaseException:
            for name in containers.names:
                say(f"--- {name}:\n{containers.logs(name)}")
            raise
        finally:
            containers.remove_all()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-image", required=True)
    parser.add_argument("--analysis-image", required=True)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="run-images-") as workdir:
        os.chmod(workdir, 0o700)
        check(args.api_image, args.analysis_image, Path(workdir))
    say(f"all checks passed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
