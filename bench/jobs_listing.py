"""GET /jobs's SQL on a user with many jobs: with the listing indexes of 0006_job_listing, and
without them (the baseline: the indexes up to 0005), side by side.

    .venv/bin/python bench/jobs_listing.py               # 10,000 jobs of the user measured
    .venv/bin/python bench/jobs_listing.py --jobs 2000   # a quicker run

Starts nothing but a fresh database on the test PostgreSQL server (scripts/ensure-postgres.sh),
migrated as production migrates it, dropped at the end. The user's jobs are Slurm jobs of three
node-step files each (three ingest_objects rows, one job_summary row), beside as many jobs of
other users and a few of the user's jobs still waiting for their analysis. Each query is the
one the API sends (api_backend/jobs/listing.py), run repeatedly; prints the median and the
slowest time in milliseconds. The baseline drops the two indexes inside a transaction that is
rolled back, so both variants see the same rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OWNER = "user-bench"
BUCKET = "benchmarks"
LISTING_INDEXES = ("job_summary_owner_listing_idx", "ingest_objects_owner_unanalysed_idx")

FILL = """
INSERT INTO job_summary (source, job_id, owner, status, analysed_at, start_time, end_time,
    energy_j, energy_kwh, time_to_solution_s, avg_power_w, cost_eur, co2_g, n_nodes, n_steps,
    benchmark, benchmark_set_by, n_files, n_files_failed)
SELECT 's3://benchmarks/' || o || '/run' || (g / 100) || '/job_' || g, g::text, o,
       CASE WHEN g %% 50 = 0 THEN 'failed' ELSE 'ok' END,
       timestamptz '2026-01-01' + g * interval '1 minute',
       timestamptz '2026-01-01' + g * interval '1 minute' - interval '30 minutes',
       timestamptz '2026-01-01' + g * interval '1 minute',
       3600, 0.001, 1800, 2, 0.0003, 0.35, 2, 3,
       (ARRAY['hpl', 'stream', 'hpcg', NULL])[1 + g %% 4], 'upload', 3, 0
FROM generate_series(1, %(jobs)s) g, unnest(%(owners)s::text[]) o;

INSERT INTO ingest_objects (bucket, key, source, owner, etag, size_bytes, status, job_source)
SELECT 'benchmarks', k, 's3://benchmarks/' || k, o, 'etag', 1024,
       CASE WHEN g > %(jobs)s THEN 'queued' ELSE 'ok' END,
       's3://benchmarks/' || o || '/run' || (g / 100) || '/job_' || g
FROM generate_series(1, %(jobs)s + %(waiting)s) g, unnest(%(owners)s::text[]) o,
     unnest(ARRAY['_0_n1', '_0_n2', '_batch_n1']) f,
     LATERAL (SELECT o || '/run' || (g / 100) || '/' || g || f || '.h5' AS k) key;
ANALYZE results.job_summary;
ANALYZE ingest_objects;
"""


def _timed(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def _cases(session, jobs: int) -> dict[str, Callable[[], object]]:
    from api_backend.jobs import listing
    from api_backend.jobs.cursor import Cursor

    everything = listing.Filters()
    deep = listing.page(session, OWNER, everything, None, jobs // 2)[-1]
    after = Cursor(deep["sort_at"], deep["source"])
    return {
        "first page (50)": lambda: listing.page(session, OWNER, everything, None, 51),
        "page in the middle": lambda: listing.page(session, OWNER, everything, after, 51),
        "benchmark=hpl": lambda: listing.page(
            session, OWNER, listing.Filters(benchmark="hpl"), None, 51
        ),
        "status=ok, middle": lambda: listing.page(
            session, OWNER, listing.Filters(status="ok"), after, 51
        ),
        "total": lambda: listing.total(session, OWNER, everything),
    }


def measure(url: str, jobs: int, repeat: int) -> dict[str, dict[str, tuple[float, float]]]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    engine = create_engine(url)
    results: dict[str, dict[str, tuple[float, float]]] = {}
    try:
        with Session(engine) as session:
            cases = _cases(session, jobs)
            results["0006 indexes"] = {n: _timed(c, repeat) for n, c in cases.items()}
            for index in LISTING_INDEXES:
                session.execute(text(f"DROP INDEX {index}"))
            results["baseline (0005)"] = {n: _timed(c, repeat) for n, c in cases.items()}
            session.rollback()
    finally:
        engine.dispose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs of the measured user")
    parser.add_argument("--others", type=int, default=2, help="other users with as many jobs")
    parser.add_argument("--waiting", type=int, default=20, help="jobs not analysed yet")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    if not (1 <= args.jobs <= 100_000 and 0 <= args.others <= 10 and 1 <= args.repeat <= 1000):
        parser.error("keep it bounded: 1-100000 jobs, 0-10 other users, 1-1000 repeats")

    from analysis_module.migrate import upgrade_database as upgrade_analysis
    from tests.support import postgres

    db = postgres.create_database("bs_bench_jobs")
    try:
        upgrade_analysis(db.dsn)
        owners = [OWNER, *(f"user-other{i}" for i in range(args.others))]
        with db.connect() as conn:
            values = {"jobs": args.jobs, "waiting": args.waiting, "owners": owners}
            for statement in filter(str.strip, FILL.split(";")):
                conn.execute(statement, values if "%(" in statement else None)
        results = measure(db.sqlalchemy_url, args.jobs, args.repeat)
    finally:
        postgres.drop_database(db)
    print(f"GET /jobs SQL, {args.jobs} jobs of the user, {args.others} other users alike, ms")
    print(f"{'query':<22}" + "".join(f"{name:>28}" for name in results))
    for case in next(iter(results.values())):
        cells = "".join(
            f"{f'{m:.2f} (max {x:.2f})':>28}" for m, x in (r[case] for r in results.values())
        )
        print(f"{case:<22}{cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
