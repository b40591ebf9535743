"""Benchmark of job arrivals: a 64-node x 3-step Slurm job uploaded file by file to Ceph RGW,
whose notifications reach the listener; how many analyses it takes and how long after the last
upload the job's row is there, beside the per-file path (one analysis per object).

    .venv/bin/python bench/arrivals.py                      # 64 nodes x 3 steps, 120 s at 1 Hz
    .venv/bin/python bench/arrivals.py --nodes 16 --quiet 1

Everything is real and local: a fresh database on the test PostgreSQL server (TEST_POSTGRES_*
as for the tests), a Ceph RGW started for the run (scripts/ensure-rgw.sh installs it) pushing
its events to the listener (`uvicorn analysis_module.minio_listener:app`), one worker
(`python -m analysis_module.worker`). The files are uploaded by 8 threads as fast as the
gateway takes them. Bounded: a fixed number of files, and every wait gives up after --timeout.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis_module.migrate import upgrade_database  # noqa: E402
from tests.support import postgres, rgw  # noqa: E402
from tests.support.servers import AppProcess, PythonProcess  # noqa: E402
from tests.support.slurm_synth import write_node_step_job  # noqa: E402

TOKEN = "bench-webhook-token-" + uuid.uuid4().hex[:8]
STEPS = ("batch", "0", "1")


class Stack:
    """Database, gateway, listener and one worker."""

    def __init__(self, quiet_s: float) -> None:
        self.db = postgres.create_database("bs_arrivals")
        upgrade_database(self.db.dsn)
        self.s3 = rgw.start()
        self.bucket = self.s3.new_bucket("arrivals")
        env = {
            **self.db.env(),
            **self.s3.env(self.bucket),
            "APP_ENV": "development",
            "LOG_LEVEL": "WARNING",
            "MINIO_WEBHOOK_AUTH_TOKEN": TOKEN,
            "FLAT_PRICE_EUR_PER_KWH": "0.30",
            "CARBON_INTENSITY_G_PER_KWH": "380",
            "INGEST_RESCAN_CRON": "",
            "INGEST_JOB_QUIET_S": str(quiet_s),
            "WORKER_POLL_INTERVAL_S": "0.5",
            "USER_MAX_OBJECTS": "100000",
        }
        self.listener = AppProcess("analysis_module.minio_listener:app", env).start()
        self.worker = PythonProcess(["-m", "analysis_module.worker"], env).start()
        self.s3.notify(self.bucket, self.listener.base_url + "/ceph-event", opaque_data=TOKEN)

    def scalar(self, query: str, *params):
        with self.db.connect() as conn:
            return conn.execute(query, params).fetchone()[0]

    def upload(self, items: list[tuple[str, bytes]]) -> float:
        """Put every (key, data) with 8 threads; returns the time the last upload returned
        (the gateway delivers the event inside the upload request)."""
        client = self.s3.client()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda item: client.put_object(
                Bucket=self.bucket, Key=item[0], Body=item[1]), items))  # fmt: skip
        return time.monotonic()

    def pending(self, folder: str) -> int:
        return self.scalar(
            "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
            " AND starts_with(lock, %s)",
            f"s3://{self.bucket}/{folder}/",
        )

    def runs(self, task: str, folder: str) -> int:
        return self.scalar(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s"
            " AND starts_with(lock, %s)",
            task,
            f"s3://{self.bucket}/{folder}/",
        )

    def analysis_seconds(self, task: str, folder: str) -> float:
        """Time the task's jobs under the folder spent running, summed (procrastinate's events)."""
        return self.scalar(
            """SELECT coalesce(extract(epoch FROM sum(done.at - started.at)), 0)::float
               FROM procrastinate_jobs j
               JOIN procrastinate_events started ON started.job_id = j.id
                    AND started.type = 'started'
               JOIN LATERAL (SELECT min(at) AS at FROM procrastinate_events e
                    WHERE e.job_id = j.id AND e.at >= started.at
                      AND e.type IN ('succeeded', 'failed', 'deferred_for_retry')) done ON true
               WHERE j.task_name = %s AND starts_with(j.lock, %s)""",
            task,
            f"s3://{self.bucket}/{folder}/",
        )

    def close(self) -> None:
        for process in (self.worker, self.listener):
            process.stop()
        self.s3.server.stop()
        postgres.drop_database(self.db)


def wait_for(check, timeout_s: float, what: str) -> float:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic()


def bench_job(stack: Stack, files: list[Path], timeout_s: float) -> dict:
    """The node-step files under their own names: one job."""
    folder = f"user-bench01/job-{uuid.uuid4().hex[:6]}"
    job = f"s3://{stack.bucket}/{folder}/job_{files[0].name.split('_')[0]}"
    last = stack.upload([(f"{folder}/{path.name}", path.read_bytes()) for path in files])

    def done() -> bool:
        n_files = stack.scalar(
            "SELECT coalesce(max(n_files), 0) FROM job_summary WHERE source = %s", job
        )
        return n_files == len(files) and stack.pending(folder) == 0

    finished = wait_for(done, timeout_s, f"the job row of {len(files)} files")
    return {
        "uploads": len(files),
        "checks": stack.runs("ingest:analyse_object", folder),
        "checking_s": stack.analysis_seconds("ingest:analyse_object", folder),
        "analyses": stack.runs("ingest:analyse_job", folder),
        "analysing_s": stack.analysis_seconds("ingest:analyse_job", folder),
        "seconds": finished - last,
    }


def bench_per_file(stack: Stack, files: list[Path], timeout_s: float) -> dict:
    """The same files under names that follow no Slurm pattern: one analysis per object."""
    folder = f"user-bench01/files-{uuid.uuid4().hex[:6]}"
    last = stack.upload([(f"{folder}/upload {path.name}", path.read_bytes()) for path in files])

    def done() -> bool:
        rows = stack.scalar(
            "SELECT count(*) FROM job_summary WHERE starts_with(source, %s)",
            f"s3://{stack.bucket}/{folder}/",
        )
        return rows == len(files) and stack.pending(folder) == 0

    finished = wait_for(done, timeout_s, f"{len(files)} per-file rows")
    return {
        "uploads": len(files),
        "checks": 0,
        "checking_s": 0.0,
        "analyses": stack.runs("ingest:analyse_object", folder),
        "analysing_s": stack.analysis_seconds("ingest:analyse_object", folder),
        "seconds": finished - last,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=64)
    parser.add_argument("--duration", type=int, default=120, help="seconds per step, at 1 Hz")
    parser.add_argument("--quiet", type=float, default=2.0, help="INGEST_JOB_QUIET_S")
    parser.add_argument("--timeout", type=float, default=600.0, help="bound of each wait")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-arrivals-"))
    files = write_node_step_job(
        workdir, job_id=4242, n_nodes=args.nodes, steps=STEPS, duration_s=args.duration
    )
    size_kib = sum(path.stat().st_size for path in files) / 1024
    shape = f"{args.nodes} nodes x {len(STEPS)} steps, {args.duration} s at 1 Hz"
    print(f"{len(files)} node-step files ({shape}, {size_kib:.0f} KiB); quiet {args.quiet:g} s")
    stack = Stack(args.quiet)
    try:
        results = {
            "job (node-step names)": bench_job(stack, files, args.timeout),
            "per file (baseline)": bench_per_file(stack, files, args.timeout),
        }
    finally:
        stack.close()
    print(f"{'path':<24}{'uploads':>8}{'checks (s)':>16}{'analyses (s)':>18}"
          "  last upload -> rows")  # fmt: skip
    for name, r in results.items():
        checks = f"{r['checks']} ({r['checking_s']:.1f})"
        analyses = f"{r['analyses']} ({r['analysing_s']:.1f})"
        print(f"{name:<24}{r['uploads']:>8}{checks:>16}{analyses:>18}  {r['seconds']:.2f} s")


if __name__ == "__main__":
    main()
