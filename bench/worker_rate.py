"""Worker rate: many small one-file jobs from Ceph RGW to their `job_summary` rows, ONE worker,
beside the same files analysed in-process by the batch runner (the floor of the analysis alone).

    .venv/bin/python bench/worker_rate.py                    # 600 jobs, production settings
    .venv/bin/python bench/worker_rate.py --jobs 200 --quiet 1 --poll 0.5
    .venv/bin/python bench/worker_rate.py --profile          # and where the worker's time goes

Each job is a merged `job_<id>.h5` of 1 node x 1 task, 101 samples at 1 s (the `100x1s`
shape of bench/small_files.py, cached in bench/out), in a folder of its own inside one user's
namespace. Everything is real and local: a fresh database on the test PostgreSQL server
(TEST_POSTGRES_* as for the tests), a Ceph RGW started for the run (scripts/ensure-rgw.sh)
pushing its events to the listener (`uvicorn analysis_module.minio_listener:app`), one worker
(`python -m analysis_module.worker`) with the settings of deploy/k8s/config.yaml (quiet period
INGEST_JOB_QUIET_S=20, WORKER_POLL_INTERVAL_S=5, WORKER_CONCURRENCY=1, JSON logs at INFO, the
owner's quota checked on arrival with USER_MAX_OBJECTS=1000) unless --quiet/--poll say
otherwise. The files are uploaded by --threads threads as fast as the gateway takes them.

Measured: jobs/s from the first job row to the last (`job_summary.analysed_at`), from the
first upload to the last row, and the worker's busy time per job (its tasks' run times from
procrastinate's events: what one worker sustains under a steady stream); per-job latency from
the upload's return to the job's row. Target: >= 30 jobs/s per worker process. Every job row
and every object row must be `ok`. Bounded: at most 1000 jobs, every wait gives up after
--timeout.

--profile times the steps of each task inside the worker by wall clock (the bench starts the
worker through itself and wraps the services' functions; nothing of it is in the worker's
code): the row lock, HEAD, the quota's listing, the downloads, the check, the engine, the
ingest transactions, and procrastinate's fetch and finish of each job.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_JOBS_S = 30.0
MAX_JOBS = 1000
OWNER = "user-bench01"
PROFILE_ENV = "WORKER_RATE_PROFILE"  # set by this bench only: where the sampled worker writes


# ---------------------------------------------------------------- the timed worker process

# (module, attribute): the steps of a job timed by wall clock inside the worker with --profile.
# The services call these through their modules' attributes, so wrapping them there is seen.
STEPS = (
    ("analysis_module.ingest.service", "_start"),  # lock the row, set running (a transaction)
    ("analysis_module.worker.metrics", "MeasuredObjectStore.head"),
    ("analysis_module.ingest.service", "_over_quota"),  # the owner's listing
    ("analysis_module.worker.metrics", "MeasuredObjectStore.download"),
    ("analysis_module.ingest.members", "check_file"),  # open the profile and close it again
    ("analysis_module.ingest.service", "_finish_member"),  # record, queue the job (transaction)
    ("analysis_module.ingest.job_service", "_download"),  # the job's files, again
    ("analysis_module.worker.runner_pool", "RunnerPool.analyse_job"),  # the engine
    ("analysis_module.ingest.job_service", "_record_files"),  # each file's fate (transaction)
    ("analysis_module.connectors.ingest_store", "IngestStore.transaction"),  # all of them
    ("procrastinate.manager", "JobManager.fetch_job"),  # the queue's own round trips
    ("procrastinate.manager", "JobManager.finish_job"),
)
TASKS = (
    ("analysis_module.ingest.service", "analyse_object", "ingest:analyse_object"),
    ("analysis_module.ingest.job_service", "analyse_job", "ingest:analyse_job"),
)


class StepTimes:
    """(task, step) -> [calls, seconds]; the task is the one running (a context variable,
    which asyncio tasks and `asyncio.to_thread` carry along)."""

    def __init__(self, out: Path):
        import contextvars

        self.out = out
        self.times: dict[tuple[str, str], list[float]] = {}
        self.task = contextvars.ContextVar("task", default="queue")
        self.lock = threading.Lock()

    def add(self, step: str, seconds: float, task: str | None = None) -> None:
        with self.lock:
            entry = self.times.setdefault((task or self.task.get(), step), [0, 0.0])
            entry[0] += 1
            entry[1] += seconds

    def wrap(self, fn, step: str, task: str | None = None):
        import contextlib
        import functools
        import inspect

        if task is not None:

            @functools.wraps(fn)
            async def run_task(*args, **kwargs):
                token, started = self.task.set(task), time.perf_counter()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    self.add("whole task", time.perf_counter() - started)
                    self.task.reset(token)

            return run_task
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    self.add(step, time.perf_counter() - started)

            return run_async
        if step.endswith(".transaction"):

            @functools.wraps(fn)
            @contextlib.asynccontextmanager
            async def run_context(*args, **kwargs):
                started = time.perf_counter()
                try:
                    async with fn(*args, **kwargs) as value:
                        yield value
                finally:
                    self.add(step, time.perf_counter() - started)

            return run_context

        @functools.wraps(fn)
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(step, time.perf_counter() - started)

        return run

    def install(self) -> None:
        import importlib

        for module_name, attribute in STEPS:
            owner = importlib.import_module(module_name)
            *path, name = attribute.split(".")
            for part in path:
                owner = getattr(owner, part)
            setattr(owner, name, self.wrap(getattr(owner, name), attribute))
        for module_name, name, task in TASKS:
            module = importlib.import_module(module_name)
            setattr(module, name, self.wrap(getattr(module, name), name, task=task))

    def dump(self) -> None:
        rows = [[task, step, n, s] for (task, step), (n, s) in self.times.items()]
        self.out.write_text(json.dumps(rows))


def run_timed_worker() -> None:
    """`python -m analysis_module.worker`, its steps timed when PROFILE_ENV is set."""
    from analysis_module.worker import __main__ as worker_main

    out = os.environ.get(PROFILE_ENV)
    if not out:
        worker_main.main([])
        return
    times = StepTimes(Path(out))
    times.install()
    try:
        worker_main.main([])
    finally:
        times.dump()


# ---------------------------------------------------------------- the baseline (in-process)


def measure_baseline(folder: Path, count: int, pg_db: str) -> dict:
    """The batch runner on the same files, one job each, into a fresh migrated database."""
    from analysis_module.app.runner import FileInput, JobInput
    from bench._common import make_runner

    paths = sorted(folder.glob("job_*.h5"))[:count]
    runner = make_runner("ours-pg", None, pg_db)
    started = time.perf_counter()
    failed = 0
    for path in paths:
        source = f"s3://baseline/{OWNER}/{path.stem}/{path.stem}"
        item = FileInput(path, source, etag=None, label=path.name)
        outcome = runner.analyse_job(JobInput(source, (item,), owner=OWNER))
        failed += outcome.status != "ok"
    seconds = time.perf_counter() - started
    runner.close()
    return {"jobs": len(paths), "seconds": seconds, "failed": failed}


def run_baseline(folder: Path, count: int, timeout_s: float) -> dict:
    from bench._common import run_json_child
    from tests.support import postgres

    db = postgres.create_database("bs_worker_rate_base")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--baseline-child", str(folder)]
    cmd += ["--jobs", str(count), "--pg-db", db.dbname]
    try:
        return run_json_child(cmd, timeout_s)
    finally:
        postgres.drop_database(db)


# ---------------------------------------------------------------- the stack and its run


class Stack:
    """Database, gateway, listener and one worker."""

    def __init__(
        self, *, quiet_s: float, poll_s: float, concurrency: int, profile: Path | None
    ) -> None:
        from analysis_module.migrate import upgrade_database
        from tests.support import postgres, rgw
        from tests.support.servers import AppProcess, PythonProcess

        self.postgres = postgres
        self.token = "bench-webhook-token-" + uuid.uuid4().hex[:8]
        self.db = postgres.create_database("bs_worker_rate")
        self.downloads = Path(tempfile.mkdtemp(prefix="bench-worker-rate-dl-"))
        self.listener = self.worker = self.s3 = None
        try:
            upgrade_database(self.db.dsn)
            self.s3 = rgw.start()
            self.bucket = self.s3.new_bucket("rate")
            env = {
                **self.db.env(),
                **self.s3.env(self.bucket),
                "APP_ENV": "production",
                "LOG_JSON": "true",
                "MINIO_WEBHOOK_AUTH_TOKEN": self.token,
                "FLAT_PRICE_EUR_PER_KWH": "0.30",
                "CARBON_INTENSITY_G_PER_KWH": "350",
                "INGEST_RESCAN_CRON": "",  # a CronJob in deploy/k8s, not the workers
                "INGEST_DOWNLOAD_DIR": str(self.downloads),
                "INGEST_JOB_QUIET_S": str(quiet_s),
                "WORKER_POLL_INTERVAL_S": str(poll_s),
                "WORKER_CONCURRENCY": str(concurrency),
                "WORKER_METRICS_PORT": "0",
            }
            self.listener = AppProcess("analysis_module.minio_listener:app", env).start()
            worker_env = env | ({PROFILE_ENV: str(profile)} if profile else {})
            worker_args = [str(Path(__file__).resolve()), "--worker-child"]
            self.worker = PythonProcess(worker_args, worker_env).start()
            self.s3.notify(self.bucket, self.listener.base_url + "/ceph-event", self.token)
        except BaseException:
            self.close()
            raise

    def rows(self, query: str, *params) -> list[tuple]:
        with self.db.connect() as conn:
            return conn.execute(query, params).fetchall()

    def scalar(self, query: str, *params):
        return self.rows(query, *params)[0][0]

    def wait_ready(self, timeout_s: float) -> None:
        """The worker has registered with the queue (its runner is built before that)."""
        wait_for(
            lambda: self.scalar("SELECT count(*) FROM procrastinate_workers") > 0,
            timeout_s,
            "the worker to start",
            alive=self.worker.alive,
        )

    def upload(self, items: list[tuple[str, bytes]], threads: int) -> dict[str, float]:
        """Put every (key, data); the wall time each upload returned, by key (the gateway
        delivers the event inside the upload request)."""
        client = self.s3.client()

        def put(item: tuple[str, bytes]) -> tuple[str, float]:
            client.put_object(Bucket=self.bucket, Key=item[0], Body=item[1])
            return item[0], time.time()

        with ThreadPoolExecutor(threads) as pool:
            return dict(pool.map(put, items))

    def close(self) -> None:
        for process in (self.worker, self.listener):
            if process is not None:
                process.stop()
        if self.s3 is not None:
            self.s3.server.stop()
        self.postgres.drop_database(self.db)
        shutil.rmtree(self.downloads, ignore_errors=True)


def wait_for(check, timeout_s: float, what: str, alive=None) -> float:
    deadline = time.monotonic() + timeout_s
    while not check():
        if alive is not None and not alive():
            raise SystemExit(f"the worker died while waiting for {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic()


def task_seconds(stack: Stack, prefix: str) -> tuple[dict[str, tuple[int, float]], float]:
    """Per task: how many ran and the seconds they spent running, summed; and the wall time
    during which at least one of them ran (procrastinate's events)."""
    rows = stack.rows(
        """SELECT j.task_name, extract(epoch FROM started.at)::float,
                  extract(epoch FROM done.at)::float
           FROM procrastinate_jobs j
           JOIN procrastinate_events started ON started.job_id = j.id AND started.type = 'started'
           JOIN LATERAL (SELECT min(at) AS at FROM procrastinate_events e
                WHERE e.job_id = j.id AND e.at >= started.at
                  AND e.type IN ('succeeded', 'failed', 'deferred_for_retry')) done ON true
           WHERE starts_with(j.lock, %s)""",
        prefix,
    )
    tasks: dict[str, tuple[int, float]] = {}
    for task, began, ended in rows:
        n, seconds = tasks.get(task, (0, 0.0))
        tasks[task] = (n + 1, seconds + ended - began)
    busy, until = 0.0, float("-inf")
    for began, ended in sorted((began, ended) for _, began, ended in rows):
        if ended > until:
            busy += ended - max(began, until)
            until = ended
    return tasks, busy


def bench_worker(stack: Stack, files: list[Path], args) -> dict:
    run = uuid.uuid4().hex[:6]
    folder = f"{OWNER}/rate-{run}"
    items = [(f"{folder}/{path.stem}/{path.name}", path.read_bytes()) for path in files]
    prefix = f"s3://{stack.bucket}/{folder}/"
    started = time.time()
    uploaded = stack.upload(items, args.threads)
    uploads_done = time.time()

    def done() -> bool:
        rows = stack.scalar(
            "SELECT count(*) FROM job_summary WHERE starts_with(source, %s)", prefix
        )
        pending = stack.scalar(
            "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
            " AND starts_with(lock, %s)",
            prefix,
        )
        return rows == len(files) and pending == 0

    wait_for(done, args.timeout, f"{len(files)} job rows", alive=stack.worker.alive)
    tasks, busy = task_seconds(stack, prefix)
    rows = stack.rows(
        "SELECT source, status, extract(epoch FROM analysed_at)::float FROM job_summary"
        " WHERE starts_with(source, %s)",
        prefix,
    )
    objects = dict(
        stack.rows(
            "SELECT status, count(*) FROM ingest_objects WHERE starts_with(source, %s)"
            " GROUP BY status",
            prefix,
        )
    )
    at = {source: when for source, _, when in rows}
    latencies = []
    for key, returned in uploaded.items():
        job = f"s3://{stack.bucket}/{key.rsplit('.', 1)[0]}"
        latencies.append(at[job] - returned)
    latencies.sort()
    first_row, last_row = min(at.values()), max(at.values())
    return {
        "jobs": len(files),
        "ok_rows": sum(1 for _, status, _ in rows if status == "ok"),
        "objects": objects,
        "upload_s": uploads_done - started,
        "first_upload": min(uploaded.values()) - started,
        "rows_s": last_row - first_row,
        "end_to_end_s": last_row - started,
        "first_row_after_s": first_row - started,
        "latency": latencies,
        "tasks": tasks,
        "busy_s": busy,
    }


# ---------------------------------------------------------------- output


def verdict(rate: float) -> str:
    return "PASS" if rate >= TARGET_JOBS_S else "FAIL"


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def print_results(base: dict, worker: dict, args) -> None:
    n = worker["jobs"]
    print(f"{'path':<44}{'jobs':>6}{'s':>9}{'jobs/s':>9}  target >= {TARGET_JOBS_S:.0f}/s")
    if "error" in base:
        print(f"{'batch runner in-process (baseline)':<44}  error: {base['error']}")
    else:
        rate = base["jobs"] / base["seconds"]
        name = "batch runner in-process (baseline)"
        print(f"{name:<44}{base['jobs']:>6}{base['seconds']:>9.2f}{rate:>9.1f}")
    busy = worker["busy_s"]
    for name, seconds in (
        ("worker: first row -> last row", worker["rows_s"]),
        ("worker: first upload -> last row", worker["end_to_end_s"]),
        ("worker: busy time (a task of it running)", busy),
    ):
        rate = (n - 1 if "first row" in name else n) / seconds if seconds > 0 else float("inf")
        print(f"{name:<44}{n:>6}{seconds:>9.2f}{rate:>9.1f}  {verdict(rate)}")
    lat = worker["latency"]
    print(
        f"\nupload -> job row: p50 {statistics.median(lat):.2f} s, p95 "
        f"{percentile(lat, 0.95):.2f} s, max {lat[-1]:.2f} s (quiet period {args.quiet:g} s, "
        f"poll {args.poll:g} s); uploads took {worker['upload_s']:.1f} s, the first row came "
        f"{worker['first_row_after_s']:.1f} s after the first upload"
    )
    print("\nworker's tasks (procrastinate events):")
    for task, (count, seconds) in sorted(worker["tasks"].items()):
        each = 1000 * seconds / count
        print(f"  {task:<24}{count:>6} runs {seconds:>8.2f} s  {each:>7.1f} ms each")
    if "error" not in base:
        per_job = 1000 * busy / n
        floor = 1000 * base["seconds"] / base["jobs"]
        print(
            f"  per job: {per_job:.1f} ms of worker time against {floor:.1f} ms in-process: "
            f"the queue/ingest path costs {per_job - floor:.1f} ms a job"
        )
    ok = worker["ok_rows"] == n and worker["objects"] == {"ok": n}
    print(
        f"\nrows: {worker['ok_rows']}/{n} job rows ok, objects {worker['objects']}: "
        + ("PASS" if ok else "FAIL")
    )


def print_profile(path: Path) -> None:
    """Per task: its steps' wall time per run (a step inside another is listed under it)."""
    rows = json.loads(path.read_text())
    by_task: dict[str, dict[str, tuple[int, float]]] = {}
    for task, step, n, seconds in rows:
        by_task.setdefault(task, {})[step] = (n, seconds)
    print("\nwhere the worker's time goes (wall clock, --profile; ms per run of the task):")
    for task, steps in sorted(by_task.items()):
        runs, whole = steps.pop("whole task", (0, 0.0))
        if runs:
            print(f"  {task}: {runs} runs, {1000 * whole / runs:.1f} ms each")
        else:
            print(f"  {task} (outside any task):")
        per = runs or 1
        for step, (n, seconds) in sorted(steps.items(), key=lambda item: -item[1][1]):
            share = f"{100 * seconds / whole:5.1f} %" if whole else ""
            print(f"    {1000 * seconds / per:7.1f} ms {share:>7}  {step} ({n} calls)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=600, help=f"one-file jobs, 1..{MAX_JOBS}")
    parser.add_argument("--quiet", type=float, default=20.0, help="INGEST_JOB_QUIET_S [20]")
    parser.add_argument("--poll", type=float, default=5.0, help="WORKER_POLL_INTERVAL_S [5]")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="WORKER_CONCURRENCY of the one worker [1]"
    )
    parser.add_argument("--threads", type=int, default=8, help="upload threads [8]")
    parser.add_argument("--profile", action="store_true", help="time the worker's steps")
    parser.add_argument("--no-baseline", action="store_true", help="skip the in-process run")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--timeout", type=float, default=900.0, help="bound of each wait [900]")
    parser.add_argument("--worker-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--pg-db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.jobs <= MAX_JOBS:
        parser.error(f"--jobs must be between 1 and {MAX_JOBS} (got {args.jobs})")
    if args.quiet < 0 or args.poll <= 0 or args.timeout <= 0:
        parser.error("--quiet must be >= 0, --poll and --timeout > 0")
    if not (1 <= args.threads <= 64 and 1 <= args.concurrency <= 16):
        parser.error("--threads must be 1..64 and --concurrency 1..16")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker_child:
        run_timed_worker()
        return
    if args.baseline_child:
        print(json.dumps(measure_baseline(args.baseline_child, args.jobs, args.pg_db)))
        return
    from bench.small_files import small_files

    files = small_files(args.workdir, "100x1s", args.jobs)
    load_before, t0 = os.getloadavg(), time.time()
    base = {"error": "skipped"} if args.no_baseline else run_baseline(
        files[0].parent, args.jobs, args.timeout
    )  # fmt: skip
    profile = Path(tempfile.mkdtemp(prefix="bench-worker-rate-")) / "profile.json"
    stack = Stack(
        quiet_s=args.quiet,
        poll_s=args.poll,
        concurrency=args.concurrency,
        profile=profile if args.profile else None,
    )
    try:
        stack.wait_ready(args.timeout)
        worker = bench_worker(stack, files, args)
    finally:
        stack.close()
    load_after = os.getloadavg()
    print(
        f"\n{args.jobs} one-file jobs (1 node, 101 samples at 1 s, "
        f"{files[0].stat().st_size / 1024:.0f} KiB each), one worker process (concurrency "
        f"{args.concurrency}); {os.cpu_count()} CPUs, "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; "
        f"{time.time() - t0:.0f} s\n"
    )
    print_results(base, worker, args)
    if args.profile:
        if profile.exists():
            print_profile(profile)
        else:
            print("\nno profile: the worker did not write one")
    shutil.rmtree(profile.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
