"""A small job's analysis into PostgreSQL: an empty database beside one holding many stored jobs.

A centre with profiling on stores tens of thousands of jobs a month, and a database written by
earlier per-file versions holds leftover per-job tables. Neither may make the next small job's
analysis slower or bigger. This bench fills a scratch database with SQL (fast):

  --jobs N       stored jobs of our layout: a job_summary row, its job_step_node row and a
                 per-job results table each (default 20,000)
  --leftover N   leftover per-job tables named job_<stem> of an earlier per-file layout, with
                 no job_summary row (default 20,000)

then analyses one small file (1 node, 10 min at 1 Hz) in a fresh process per run, against the
filled database and against an empty one, and prints the analysis time (setup: settings, the
connection and migrations, timed apart) and the process's peak memory side by side.

    .venv/bin/python bench/scale.py [--jobs 20000] [--leftover 20000] [--repeat 3]
                                    [--attach-probe]

Target: the filled database within 1.2x the empty one's time and +50 MB of its peak memory.
Needs the PostgreSQL the tests use (scripts/ensure-postgres.sh); the databases are dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import REPO, START_EPOCH, peak_rss_mb, run_json_child

TIME_RATIO_TARGET = 1.2
RSS_DELTA_TARGET_MB = 50.0
TABLES_PER_TRANSACTION = 1000  # each CREATE TABLE holds a lock until COMMIT

OWN_TABLE = """CREATE TABLE "job_{i}" (step text NOT NULL, node text NOT NULL,
 time timestamptz NOT NULL, epoch_s bigint NOT NULL, elapsed_s bigint, power_w double precision,
 energy_j double precision, price_eur_per_mwh double precision, cost_eur double precision,
 carbon_g_per_kwh double precision, co2_g double precision, n_tasks_sampled integer,
 cpu_util_pct double precision, cpu_time_s double precision, cpu_frequency_mhz double precision,
 rss_mib double precision, vmsize_mib double precision, read_mib double precision,
 write_mib double precision, gpu_util_pct double precision, gpu_mem_mib double precision)"""
LEFTOVER_TABLE = """CREATE TABLE "job_{i}_0_node{i}" (step text, node text, epoch bigint,
 power double precision, energy double precision, cpu_util double precision,
 rss double precision, cost double precision, co2 double precision)"""
SUMMARIES = """
INSERT INTO job_summary (source, job_id, owner, status, analysed_at, start_time, end_time,
    energy_j, energy_kwh, time_to_solution_s, avg_power_w, n_nodes, n_steps, table_name,
    n_files, n_files_failed)
SELECT 's3://benchmarks/user' || (g %% 100) || '/run/job_' || g, g::text, 'user' || (g %% 100),
       'ok', timestamptz '2026-01-01' + g * interval '1 minute',
       timestamptz '2026-01-01' + g * interval '1 minute' - interval '10 minutes',
       timestamptz '2026-01-01' + g * interval '1 minute', 3600, 0.001, 600, 6, 1, 1,
       'job_' || g, 1, 0
FROM generate_series(1, %(jobs)s) g;
INSERT INTO job_step_node (source, level, step, node, energy_j)
SELECT 's3://benchmarks/user' || (g %% 100) || '/run/job_' || g, 'step_node', '0', 'node000', 3600
FROM generate_series(1, %(jobs)s) g;
"""


def fill(dsn: str, jobs: int, leftover: int) -> float:
    """The stored jobs and the leftover tables; returns the seconds it took."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(dsn) as con:
        kinds = (("own", OWN_TABLE, jobs, 1), ("leftover", LEFTOVER_TABLE, leftover, 10**6))
        for label, template, count, first in kinds:
            for start in range(0, count, TABLES_PER_TRANSACTION):
                stop = min(start + TABLES_PER_TRANSACTION, count)
                con.execute(
                    ";".join(template.format(i=i) for i in range(first + start, first + stop))
                )
                con.commit()
                print(f"\r  {label} tables {stop}/{count}", end="", file=sys.stderr, flush=True)
            print(file=sys.stderr)
        for statement in SUMMARIES.split(";")[:-1]:
            con.execute(statement, {"jobs": jobs})
        con.commit()
        con.execute("ANALYZE job_summary")
        con.execute("ANALYZE job_step_node")
    return time.perf_counter() - started


PROBE_SCHEMA = "bench_probe"
PROBE_ROWS = 600


def attach_probe(dsn: str, repeat: int) -> dict[str, float]:
    """One small job's samples written through DuckDB's postgres extension, its catalog cache
    cleared first as the sink does once per job: through an attachment of the whole database,
    and through one limited to a schema holding only the written table. Best of `repeat`."""
    import psycopg
    import pyarrow as pa

    from analysis_module.connectors.duckdb_postgres import attach_postgres

    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {PROBE_SCHEMA}")
        con.execute(
            f"CREATE TABLE {PROBE_SCHEMA}.samples (source text, step text, node text, "
            "time timestamptz, power_w double precision)"
        )
    start_us = START_EPOCH * 1_000_000
    rows = pa.table({
        "source": ["probe"] * PROBE_ROWS, "step": ["0"] * PROBE_ROWS,
        "node": ["node000"] * PROBE_ROWS,
        "time": pa.array([start_us + i * 1_000_000 for i in range(PROBE_ROWS)],
                         pa.timestamp("us", tz="UTC")),
        "power_w": [150.0] * PROBE_ROWS,
    })  # fmt: skip
    best = {}
    for label, schema in (("whole database", None), (f"schema {PROBE_SCHEMA} only", PROBE_SCHEMA)):
        con = attach_postgres(dsn, memory_limit="512MB", schema=schema)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            con.execute("CALL pg_clear_cache()")
            con.execute("BEGIN TRANSACTION")
            con.execute(f"DELETE FROM pg.{PROBE_SCHEMA}.samples WHERE source = 'probe'")  # noqa: S608
            con.from_arrow(rows).insert_into(f"pg.{PROBE_SCHEMA}.samples")
            con.execute("COMMIT")
            times.append(time.perf_counter() - t0)
        con.close()
        best[label] = min(times)
    return best


def small_file(workdir: Path, run: int) -> Path:
    from tests.support.slurm_synth import write_synthetic_job

    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"job_{900000 + run}.h5"
    if not path.exists():
        write_synthetic_job(
            path, n_nodes=1, tasks_per_node=1, duration_s=600, start_epoch=START_EPOCH
        )
    return path


def measure(path: Path, dbname: str) -> dict:
    """In this fresh process: set up a runner (not timed), then analyse one file."""
    from analysis_module.app.runner import FactorOptions, build_runner
    from analysis_module.settings import AnalysisSettings
    from analysis_module.startup import apply_migrations
    from tests.support.postgres import server

    pg = server()
    started = time.perf_counter()
    settings = AnalysisSettings(
        POSTGRES_HOST=pg.host, POSTGRES_PORT=pg.port, POSTGRES_USER=pg.user,
        POSTGRES_PASSWORD=pg.password, POSTGRES_DB=dbname,
    )  # fmt: skip
    apply_migrations(settings)
    factors = FactorOptions(flat_price_eur_per_kwh=0.25, carbon_g_per_kwh=400.0)
    runner = build_runner(settings, factor_options=factors)
    setup_s, rss_setup_mb = time.perf_counter() - started, peak_rss_mb()
    t0 = time.perf_counter()
    outcome = runner.analyse_file(path, source=f"s3://benchmarks/bench/{path.name}")
    seconds = time.perf_counter() - t0
    runner.close()
    if outcome.status != "ok":
        raise RuntimeError(f"analysis failed: {outcome.error}")
    return {"seconds": seconds, "setup_s": setup_s, "rss_setup_mb": rss_setup_mb,
            "rss_mb": peak_rss_mb()}  # fmt: skip


def runs_on(dbname: str, workdir: Path, repeat: int, timeout_s: float) -> dict:
    """Best time and highest peak memory of `repeat` fresh processes, each a new job."""
    runs = []
    for run in range(repeat):
        path = small_file(workdir, run)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--measure", str(path), dbname]
        result = run_json_child(cmd, timeout_s)
        if "error" in result:
            return result
        runs.append(result)
    best = min(runs, key=lambda r: r["seconds"])
    return best | {"rss_mb": max(r["rss_mb"] for r in runs), "setup_s": best["setup_s"]}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_report(empty: dict, filled: dict, args: argparse.Namespace, fill_s: float) -> None:
    load = os.getloadavg()[0]
    print(
        f"\nOne small job into PostgreSQL; {os.cpu_count()} CPUs; load average {load:.1f}; "
        f"filled with {args.jobs:,} stored jobs and {args.leftover:,} leftover tables in "
        f"{fill_s:.0f} s; best of {args.repeat} fresh processes.\n"
    )
    print(f"{'database':<10} {'analysis s':>11} {'setup s':>8} {'peak MB':>8}")
    for name, run in (("empty", empty), ("filled", filled)):
        if "error" in run:
            print(f"{name:<10} error: {run['error']}")
            continue
        print(f"{name:<10} {run['seconds']:>11.3f} {run['setup_s']:>8.2f} {run['rss_mb']:>8.0f}")
    if "error" in empty or "error" in filled:
        return
    ratio = filled["seconds"] / empty["seconds"]
    delta = filled["rss_mb"] - empty["rss_mb"]
    print(f"\ntime filled/empty {ratio:.2f}x (target <= {TIME_RATIO_TARGET}x) "
          f"{verdict(ratio <= TIME_RATIO_TARGET)}")  # fmt: skip
    print(f"peak memory filled-empty {delta:+.0f} MB (target <= +{RSS_DELTA_TARGET_MB:.0f} MB) "
          f"{verdict(delta <= RSS_DELTA_TARGET_MB)}")  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="stored jobs of our layout")
    parser.add_argument("--leftover", type=int, default=20_000, help="leftover per-job tables")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per database")
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "out" / "scale")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per child process")
    parser.add_argument(
        "--attach-probe",
        action="store_true",
        help="also time a write through a whole-database and a one-schema attachment",
    )
    parser.add_argument("--measure", nargs=2, metavar=("FILE", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("jobs", "leftover", "repeat"):
        if getattr(args, name) < (1 if name == "repeat" else 0):
            parser.error(f"--{name} must not be below {1 if name == 'repeat' else 0}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.measure:
        path, dbname = args.measure
        print(json.dumps(measure(Path(path), dbname)))
        return
    from analysis_module.migrate import upgrade_database
    from tests.support import postgres

    empty_db = postgres.create_database("bs_bench_scale_empty")
    filled_db = postgres.create_database("bs_bench_scale_filled")
    try:
        for db in (empty_db, filled_db):
            upgrade_database(db.dsn)
        fill_s = fill(filled_db.dsn, args.jobs, args.leftover)
        empty = runs_on(empty_db.dbname, args.workdir, args.repeat, args.timeout)
        filled = runs_on(filled_db.dbname, args.workdir, args.repeat, args.timeout)
        probe = attach_probe(filled_db.dsn, args.repeat) if args.attach_probe else {}
    finally:
        postgres.drop_database(empty_db)
        postgres.drop_database(filled_db)
    print_report(empty, filled, args, fill_s)
    if probe:
        print(f"\nWriting {PROBE_ROWS} samples into the filled database, catalog cache cleared "
              f"(best of {args.repeat}):")  # fmt: skip
        for label, seconds in probe.items():
            print(f"  attached {label:<28} {seconds:6.3f} s")


if __name__ == "__main__":
    main()
