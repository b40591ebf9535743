"""Small-file throughput: many short one-node profiles, each its own job, against the plain read.

Real profiles are small (Slurm samples every 30 s by default), so a centre's load is many
small files, and a fixed cost per file matters more than speed per row. Two shapes of file:

  10min-1Hz   1 node x 1 task, 600 samples at 1 s
  100x1s      1 node x 1 task, 100 samples at 1 s (the size of a production node-step file)

For each shape, a batch of files is analysed in one fresh process per variant (setup such as
settings, connections and migrations is timed apart and not counted):

  h5py-plain         h5py reads every dataset of every file (the floor)
  ours-duckdb        the runner, each file one job, into a fresh DuckDB file, the jobs written
                     in groups as the batch CLI writes them (up to 500 jobs or 245,760 samples
                     a transaction; app/commit_group.py)
  ours-pg            the same into a fresh PostgreSQL database (migrated before the clock starts)
  ours-duckdb-alone  each job a transaction of its own (`--jobs-per-commit 1`; what a worker
  ours-pg-alone      does with one queue job), the baseline of group commit

and the batch CLI is run on one file into an already migrated PostgreSQL database, whole
process wall time (interpreter start and imports included), best of three.

    .venv/bin/python bench/small_files.py [--files 1000] [--shapes 10min-1Hz 100x1s]

Targets: >= 100 files/s into DuckDB, >= 50 files/s into PostgreSQL, the one-file CLI run into
PostgreSQL under 1.5 s. Needs the PostgreSQL the tests use (scripts/ensure-postgres.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import REPO, START_EPOCH, make_runner, peak_rss_mb, run_json_child

SHAPES = {"10min-1Hz": 600, "100x1s": 100}
VARIANTS = ("h5py-plain", "ours-duckdb", "ours-pg", "ours-duckdb-alone", "ours-pg-alone")
TARGETS = {"ours-duckdb": 100.0, "ours-pg": 50.0}  # files/s
CLI_TARGET_S = 1.5


def small_files(workdir: Path, shape: str, count: int) -> list[Path]:
    """`count` one-node files of `shape`, job ids 100000.., generated unless present."""
    from tests.support.slurm_synth import write_synthetic_job

    folder = workdir / f"small-{shape}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"job_{100000 + i}.h5" for i in range(count)]
    done = folder / f".complete-{count}"
    if not done.exists():
        print(f"generating {count} files of {shape} ...", file=sys.stderr, flush=True)
        for i, path in enumerate(paths):
            start = START_EPOCH + i * 3600
            write_synthetic_job(
                path, n_nodes=1, tasks_per_node=1, duration_s=SHAPES[shape], start_epoch=start
            )
        done.write_text("")
    return paths


def plain_read(paths: list[Path]) -> None:
    import h5py

    def read(_name, obj):
        if isinstance(obj, h5py.Dataset):
            obj[()]

    for path in paths:
        with h5py.File(path, "r") as h5:
            h5.visititems(read)


def measure(kind: str, folder: Path, count: int, pg_db: str | None) -> dict:
    """One variant over the batch, in this fresh process."""
    paths = sorted(folder.glob("job_*.h5"))[:count]
    started = time.perf_counter()
    db_file = folder / f"bench-{os.getpid()}.duckdb"
    sink = kind.removesuffix("-alone")
    runner = make_runner(sink, db_file, pg_db) if kind != "h5py-plain" else None
    setup_s = time.perf_counter() - started
    t0 = time.perf_counter()
    if runner is None:
        plain_read(paths)
    else:
        from analysis_module.app.commit_group import GroupLimits

        grouped = GroupLimits.max_jobs  # the batch CLI's default
        analyse(runner, paths, jobs_per_commit=1 if kind.endswith("-alone") else grouped)
    if runner is not None:
        runner.close()  # counted: a local DuckDB file's last checkpoint is part of the batch
    seconds = time.perf_counter() - t0
    if runner is not None:
        for leftover in folder.glob(f"bench-{os.getpid()}.duckdb*"):
            leftover.unlink()
    return {"seconds": seconds, "setup_s": setup_s, "files": len(paths), "rss_mb": peak_rss_mb()}


def analyse(runner, paths: list[Path], *, jobs_per_commit: int) -> None:
    """The files as the batch CLI analyses them with `--jobs-per-commit`."""
    from analysis_module.app.commit_group import CommitGroup, GroupLimits
    from analysis_module.app.job_assembly import FileInput, JobInput

    with CommitGroup(runner, GroupLimits(max_jobs=jobs_per_commit)) as group:
        outcomes = []
        for path in paths:
            source = f"bench/{path.name}"
            outcomes += group.analyse(JobInput(source, (FileInput(path, source),)))
        outcomes += group.close()
    for outcome in outcomes:
        if outcome.status != "ok":
            raise RuntimeError(f"{outcome.source}: {outcome.error}")


def run_variant(kind: str, folder: Path, count: int, timeout_s: float) -> dict:
    from tests.support import postgres

    db = postgres.create_database("bs_bench_small") if kind.startswith("ours-pg") else None
    cmd = [sys.executable, str(Path(__file__).resolve()), "--measure", kind, str(folder)]
    cmd += ["--files", str(count)] + (["--pg-db", db.dbname] if db else [])
    try:
        return run_json_child(cmd, timeout_s)
    finally:
        if db:
            postgres.drop_database(db)


def cli_one_file(path: Path, repeat: int) -> dict:
    """The batch CLI on one file into a migrated PostgreSQL database: best whole-process time."""
    from analysis_module.migrate import upgrade_database
    from tests.support import postgres

    db = postgres.create_database("bs_bench_cli")
    try:
        upgrade_database(db.dsn)
        env = os.environ | {
            "POSTGRES_HOST": db.host,
            "POSTGRES_PORT": str(db.port),
            "POSTGRES_USER": db.user,
            "POSTGRES_PASSWORD": db.password or "",
            "POSTGRES_DB": db.dbname,
        }
        cmd = [sys.executable, "analysis_module/duckdb_analysis.py", "-s", str(path)]
        cmd += ["--flat-price", "0.25", "--carbon-intensity", "400"]
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        return {"seconds": min(times), "all_s": times}
    finally:
        postgres.drop_database(db)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_table(results: dict[str, dict[str, dict]], cli: dict) -> None:
    print(
        f"{'shape':<10} {'variant':<17} {'files':>6} {'s':>7} {'files/s':>8} {'x plain':>8} "
        f"{'RSS MB':>7} {'target':>9} {'':>4}"
    )
    for shape, runs in results.items():
        plain = runs.get("h5py-plain", {})
        for kind, run in runs.items():
            if "error" in run:
                print(f"{shape:<10} {kind:<17} error: {run['error']}")
                continue
            rate = run["files"] / run["seconds"]
            slower = run["seconds"] / plain["seconds"] if "seconds" in plain else float("nan")
            target = TARGETS.get(kind)
            goal = f">= {target:.0f}/s" if target else ""
            mark = verdict(rate >= target) if target else ""
            print(
                f"{shape:<10} {kind:<17} {run['files']:>6} {run['seconds']:>7.2f} "
                f"{rate:>8.1f} {slower:>8.1f} {run['rss_mb']:>7.0f} {goal:>9} {mark:>4}"
            )
    if cli:
        ok = verdict(cli["seconds"] < CLI_TARGET_S)
        print(
            f"\none-file CLI run into PostgreSQL: {cli['seconds']:.2f} s (best of "
            f"{len(cli['all_s'])}; target < {CLI_TARGET_S} s) {ok}"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000, help="files per batch")
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--no-postgres", action="store_true", help="skip ours-pg and the CLI")
    parser.add_argument("--repeat", type=int, default=3, help="one-file CLI runs, best is shown")
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "out")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per child process")
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "FOLDER"), help=argparse.SUPPRESS)
    parser.add_argument("--pg-db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.files < 1:
        parser.error(f"--files must be at least 1 (got {args.files})")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.measure:
        kind, folder = args.measure
        print(json.dumps(measure(kind, Path(folder), args.files, args.pg_db)))
        return
    variants = [v for v in VARIANTS if not (args.no_postgres and v.startswith("ours-pg"))]
    load_before, t0 = os.getloadavg(), time.time()
    results: dict[str, dict[str, dict]] = {}
    for shape in args.shapes:
        paths = small_files(args.workdir, shape, args.files)
        plain_read(paths)  # warm the page cache for every variant alike
        results[shape] = {
            k: run_variant(k, paths[0].parent, args.files, args.timeout) for k in variants
        }
    cli = {}
    if not args.no_postgres:
        cli = cli_one_file(small_files(args.workdir, args.shapes[0], 1)[0], args.repeat)
    load_after = os.getloadavg()
    print(
        f"\nSmall files, warm cache; {os.cpu_count()} CPUs; load average {load_before[0]:.1f} "
        f"before, {load_after[0]:.1f} after; {time.time() - t0:.0f} s. One fresh process per "
        "row; setup (connections, migrations) not counted.\n"
    )
    print_table(results, cli)


if __name__ == "__main__":
    main()
