"""A small job's analysis into PostgreSQL: an empty database beside one holding many stored jobs.

A centre with profiling on stores tens of thousands of jobs a month, and a database written by
earlier versions holds leftover per-job tables. Neither may make the next small job's analysis
slower or bigger. This bench fills a scratch database with SQL (fast), in the results layout
(docs/results-layout.md):

  --jobs N              stored jobs: a job_summary row, a job_step_node row, SAMPLES rows of
                        results.job_samples and the view job_<id> each (default 100,000); one
                        user owns a tenth of them (10,000 by default)
  --samples-per-job N   (default 500: 50 million samples)
  --leftover N          leftover tables job_<stem> of an earlier per-file layout in public,
                        with no job_summary row (default 20,000)

then analyses one small file (1 node, 10 min at 1 Hz) as sixteen new jobs in a fresh process per
run, against the filled database and against an empty one, and prints a job's analysis time
(the median of jobs 2-16, a worker's steady state; the first job apart; setup: settings, the
connection and migrations, timed apart) and the process's peak memory side by side. Then the
read paths (bench/read_paths.py): GET /jobs of the user owning a tenth of the jobs, first and a
deep page, and every Grafana panel's query, on a baseline database of 100 jobs and on the filled
one (`--no-reads` skips them).

    .venv/bin/python bench/scale.py [--jobs 100000] [--samples-per-job 500] [--leftover 20000]
                                    [--repeat 3] [--keep] [--reuse DB] [--attach-probe]

`--keep` keeps the filled database (its name is printed) and `--reuse DB` measures against it
instead of filling a new one: the full fill takes several minutes and about 12 GB of disk.
Target: the filled database within 1.2x the empty one's time and +50 MB of its peak memory.
Needs the PostgreSQL the tests use (scripts/ensure-postgres.sh); the databases are dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import REPO, START_EPOCH, peak_rss_mb, run_json_child

TIME_RATIO_TARGET = 1.2
RSS_DELTA_TARGET_MB = 50.0
TABLES_PER_TRANSACTION = 1000  # each CREATE TABLE holds a lock until COMMIT
JOBS_PER_STATEMENT = 2000
HEAVY_USER = "user0"  # owns every tenth job
JOBS_AFTER = 15  # jobs a measuring process analyses after its first
READS_BASELINE_JOBS = 100  # the read paths' baseline: a database holding this many jobs

LEFTOVER_TABLE = """CREATE TABLE "job_{i}_0_node{i}" (step text, node text, epoch bigint,
 power double precision, energy double precision, cpu_util double precision,
 rss double precision, cost double precision, co2 double precision)"""
JOB_ROWS = """
INSERT INTO results.job_summary (source, job_id, owner, status, analysed_at, start_time,
    end_time, energy_j, energy_kwh, time_to_solution_s, avg_power_w, cost_eur, co2_g, n_nodes,
    n_steps, table_name, benchmark, benchmark_set_by, n_files, n_files_failed)
SELECT 's3://benchmarks/' || o.owner || '/run/job_' || g, g::text, o.owner,
       'ok', timestamptz '2026-01-01' + g * interval '1 minute' + interval '20 minutes',
       timestamptz '2026-01-01' + g * interval '1 minute',
       timestamptz '2026-01-01' + g * interval '1 minute' + %(seconds)s * interval '1 second',
       150.0 * %(seconds)s, 150.0 * %(seconds)s / 3.6e6, %(seconds)s, 150, 0.001, 0.4, 1, 1,
       'job_' || g, 'bench' || (g %% 7), 'upload', 1, 0
FROM generate_series(%(first)s, %(last)s) g,
     LATERAL (SELECT CASE WHEN g %% 10 = 0 THEN 'user0' ELSE 'user' || (g %% 97 + 1) END
              AS owner) o;
INSERT INTO results.job_step_node (source, level, step, node, energy_j, start_time, end_time)
SELECT 's3://benchmarks/' || CASE WHEN g %% 10 = 0 THEN 'user0' ELSE 'user' || (g %% 97 + 1)
       END || '/run/job_' || g, l.level, CASE WHEN l.level <> 'node' THEN '0' END,
       CASE WHEN l.level <> 'step' THEN 'node000' END, 150.0 * %(seconds)s,
       timestamptz '2026-01-01' + g * interval '1 minute',
       timestamptz '2026-01-01' + g * interval '1 minute' + %(seconds)s * interval '1 second'
FROM generate_series(%(first)s, %(last)s) g,
     (VALUES ('step'), ('node'), ('step_node')) l(level);
INSERT INTO results.job_samples (table_name, step, node, time, epoch_s, elapsed_s, power_w,
    energy_j, price_eur_per_mwh, cost_eur, carbon_g_per_kwh, co2_g, n_tasks_sampled,
    cpu_util_pct, cpu_time_s, rss_mib)
SELECT 'job_' || g, '0', 'node000',
       timestamptz '2026-01-01' + g * interval '1 minute' + i * interval '1 second',
       extract(epoch FROM timestamptz '2026-01-01')::bigint + g * 60 + i, i, 150.0 + i %% 7,
       150.0 * i, 80.0, 150.0 * i / 3.6e9 * 80, 400.0, 150.0 * i / 3.6e6 * 400, 1, 99.0,
       i * 1.0, 512.0
FROM generate_series(%(first)s, %(last)s) g, generate_series(0, %(samples)s - 1) i;
SELECT count(results.publish_job_view('job_' || g)) FROM generate_series(%(first)s, %(last)s) g;
"""


def fill(dsn: str, jobs: int, samples: int, leftover: int, *, quiet: bool = False) -> float:
    """The stored jobs and the leftover tables; returns the seconds it took."""
    import psycopg
    from psycopg.types.numeric import Int8

    started = time.perf_counter()
    with psycopg.connect(dsn) as con:
        con.execute("DROP INDEX results.job_samples_job_idx")  # built once at the end: faster
        con.commit()
        for first in range(1, jobs + 1, JOBS_PER_STATEMENT):
            last = min(first + JOBS_PER_STATEMENT - 1, jobs)
            numbers = {"first": first, "last": last, "samples": samples, "seconds": samples}
            values = {key: Int8(value) for key, value in numbers.items()}  # never smallint
            for statement in JOB_ROWS.split(";")[:-1]:
                con.execute(statement, values)
            con.commit()
            if not quiet:
                print(f"\r  jobs {last:,}/{jobs:,} ({time.perf_counter() - started:.0f} s)",
                      end="", file=sys.stderr, flush=True)  # fmt: skip
        print(file=sys.stderr)
        con.execute(
            "CREATE INDEX job_samples_job_idx ON results.job_samples (table_name, step, node, time)"
        )
        con.commit()
        for start in range(0, leftover, TABLES_PER_TRANSACTION):
            stop = min(start + TABLES_PER_TRANSACTION, leftover)
            con.execute(";".join(LEFTOVER_TABLE.format(i=10**6 + i) for i in range(start, stop)))
            con.commit()
            print(f"\r  leftover tables {stop:,}/{leftover:,}", end="", file=sys.stderr,
                  flush=True)  # fmt: skip
        print(file=sys.stderr)
    with psycopg.connect(dsn, autocommit=True) as con:
        for table in ("job_summary", "job_step_node", "job_samples"):
            con.execute(f"VACUUM ANALYZE results.{table}")
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
    """In this fresh process: set up a runner (not timed), then analyse the file as the first
    job of the process and as JOBS_AFTER further new jobs (a worker's steady state)."""
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
    times = []
    for i in range(1 + JOBS_AFTER):
        t0 = time.perf_counter()
        source = f"s3://benchmarks/bench/{path.stem}{i:02d}.h5"  # a new job each time
        outcome = runner.analyse_file(path, source=source)
        times.append(time.perf_counter() - t0)
        if outcome.status != "ok":
            raise RuntimeError(f"analysis failed: {outcome.error}")
    runner.close()
    return {"first_s": times[0], "seconds": statistics.median(times[1:]), "setup_s": setup_s,
            "rss_setup_mb": rss_setup_mb, "rss_mb": peak_rss_mb()}  # fmt: skip


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
    return best | {
        "rss_mb": max(r["rss_mb"] for r in runs),
        "first_s": min(r["first_s"] for r in runs),
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def stored(dsn: str) -> dict:
    """What the filled database holds (counted, so a reused one is described truly)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as con:
        return {
            "jobs": con.execute("SELECT count(*) FROM results.job_summary").fetchone()[0],
            "samples": con.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = 'results.job_samples'::regclass"
            ).fetchone()[0],
            "leftover": con.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename LIKE 'job\\_%'"
            ).fetchone()[0],
            "size_gb": con.execute("SELECT pg_database_size(current_database()) / 1e9").fetchone()[
                0
            ],
        }


def print_report(
    empty: dict, filled: dict, args: argparse.Namespace, fill_s: float, contents: dict
) -> None:
    load = os.getloadavg()[0]
    filled_in = f" in {fill_s:.0f} s" if fill_s else " (reused)"
    print(
        f"\nOne small job into PostgreSQL; {os.cpu_count()} CPUs; load average {load:.1f}; "
        f"filled database: {contents['jobs']:,} stored jobs, ~{contents['samples']:,} samples, "
        f"{contents['leftover']:,} leftover tables, {contents['size_gb']:.1f} GB{filled_in}; "
        f"best of {args.repeat} fresh processes.\n"
    )
    print(f"{'database':<10} {'job s':>8} {'first job s':>12} {'setup s':>8} {'peak MB':>8}")
    for name, run in (("empty", empty), ("filled", filled)):
        if "error" in run:
            print(f"{name:<10} error: {run['error']}")
            continue
        print(f"{name:<10} {run['seconds']:>8.3f} {run['first_s']:>12.3f} "
              f"{run['setup_s']:>8.2f} {run['rss_mb']:>8.0f}")  # fmt: skip
    if "error" in empty or "error" in filled:
        return
    ratio = filled["seconds"] / empty["seconds"]
    delta = filled["rss_mb"] - empty["rss_mb"]
    print(f"\ntime filled/empty {ratio:.2f}x (target <= {TIME_RATIO_TARGET}x) "
          f"{verdict(ratio <= TIME_RATIO_TARGET)}")  # fmt: skip
    print(f"peak memory filled-empty {delta:+.0f} MB (target <= +{RSS_DELTA_TARGET_MB:.0f} MB) "
          f"{verdict(delta <= RSS_DELTA_TARGET_MB)}")  # fmt: skip
    print(f"first job of a process filled/empty {filled['first_s'] / empty['first_s']:.2f}x "
          "(not a target: the filled database's pages are not in memory yet)")  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="stored jobs")
    parser.add_argument("--samples-per-job", type=int, default=500, help="samples of each job")
    parser.add_argument("--leftover", type=int, default=20_000, help="leftover per-job tables")
    parser.add_argument("--keep", action="store_true", help="keep the filled database")
    parser.add_argument(
        "--no-reads", action="store_true", help="skip GET /jobs and the Grafana queries"
    )
    parser.add_argument("--reuse", metavar="DB", help="measure against this filled database")
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
    for name in ("jobs", "samples_per_job", "leftover", "repeat"):
        if getattr(args, name) < (1 if name == "repeat" else 0):
            flag = name.replace("_", "-")
            parser.error(f"--{flag} must not be below {1 if name == 'repeat' else 0}")
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
    if args.reuse:
        filled_db = postgres.PgDatabase(**{**vars(postgres.server()), "dbname": args.reuse})
    else:
        filled_db = postgres.create_database("bs_bench_scale_filled")
    try:
        for db in (empty_db, filled_db):
            upgrade_database(db.dsn)
        fill_s = 0.0
        if not args.reuse:
            fill_s = fill(filled_db.dsn, args.jobs, args.samples_per_job, args.leftover)
        empty = runs_on(empty_db.dbname, args.workdir, args.repeat, args.timeout)
        filled = runs_on(filled_db.dbname, args.workdir, args.repeat, args.timeout)
        probe = attach_probe(filled_db.dsn, args.repeat) if args.attach_probe else {}
        contents = stored(filled_db.dsn)
        reads = {}
        if not args.no_reads:
            from bench.read_paths import measure_reads

            fill(empty_db.dsn, READS_BASELINE_JOBS, args.samples_per_job, 0, quiet=True)
            detail = f"job_{READS_BASELINE_JOBS // 10 * 10}"  # a job of the heavy user
            reads = {
                name: measure_reads(db.dsn, owner=HEAVY_USER, job_table=detail)
                for name, db in (("empty", empty_db), ("filled", filled_db))
            }
    finally:
        postgres.drop_database(empty_db)
        if args.keep or args.reuse:
            print(f"kept the filled database {filled_db.dbname}", file=sys.stderr)
        else:
            postgres.drop_database(filled_db)
    print_report(empty, filled, args, fill_s, contents)
    if reads:
        from bench.read_paths import print_reads

        print(f"\nReads: the baseline holds {READS_BASELINE_JOBS} jobs; the job-detail job is "
              f"{reads['filled']['job_table']} of {HEAVY_USER}.")  # fmt: skip
        print_reads(reads["empty"], reads["filled"])
    if probe:
        print(f"\nWriting {PROBE_ROWS} samples into the filled database, catalog cache cleared "
              f"(best of {args.repeat}):")  # fmt: skip
        for label, seconds in probe.items():
            print(f"  attached {label:<28} {seconds:6.3f} s")


if __name__ == "__main__":
    main()
