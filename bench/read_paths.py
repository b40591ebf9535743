"""The read side on a database that holds many jobs: `GET /jobs` over real HTTP and the SQL of
every Grafana panel, on an almost empty database beside a filled one, in one run.

    .venv/bin/python bench/read_paths.py                # the user owns 10,000 jobs
    .venv/bin/python bench/read_paths.py --jobs 2000    # a quicker run

Standalone, it makes two scratch databases on the test PostgreSQL server
(scripts/ensure-postgres.sh), migrated as production migrates them (the analysis' and the API's
Alembic migrations), fills them with SQL and drops them at the end. The baseline holds a few
jobs per user, the other --jobs jobs of the measured user beside --others users with as many.
Every job is a `job_summary` row with its `job_step_node`, `job_files` and `ingest_objects` rows
(three node-step files); a few jobs per user still wait for their analysis. One job of the user
has its samples in a table `job_<id>` with the columns of JOB_TIMESERIES (2 nodes x 30 min at
1 Hz: 3,600 rows).

Measured on each database:
- `GET /jobs` of the user, through the API under uvicorn on 127.0.0.1 (the image's command),
  with an access token from `POST /auth/password`: the first page, and a deep page (page 100
  at the default limit, reached by following `next_cursor`) requested again with its cursor.
  p50/p95/max over --repeat requests of each, interleaved; target p95 < 50 ms.
- every panel and variable query of deploy/grafana/dashboards/*.json as Grafana sends it
  (tests/deploy/grafana_sql.py: variables interpolated, macros expanded), through psycopg:
  "All" users and benchmarks, the first benchmark on the benchmark dashboard, the measured job
  on the job-detail dashboard over its run time a minute either side, elsewhere a range
  covering every job. One untimed run first, then p50/p95/max over --panel-repeat runs;
  target p95 < 200 ms.

bench/scale.py calls `measure_reads` on its own databases and `print_reads` for the table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LISTING_TARGET_MS = 50.0
PANEL_TARGET_MS = 200.0
DEEP_PAGE = 100
PANEL_REPEAT = 20
MIN_RUNS = 5  # each case runs at least this often, whatever its time budget
LISTING_BUDGET_S = 60.0  # both listing cases together, per database
QUERY_BUDGET_S = 3.0  # one panel's timed runs, per database
STATEMENT_TIMEOUT = "30s"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
JOB_VARIABLE = "job"  # the job-detail dashboard's variable holding the job's relation name
JOB_RELATION = re.compile(r"job_[a-z0-9_]+")  # as deploy/grafana/grafana-reader.sql grants
DEFAULT_PREFIX = "user-"  # MINIO_BUCKET_PREFIX's default
BENCH_USER = "bench-reads-"
# $__interval: Grafana divides the time range by the panel's width in pixels and rounds the
# result (rangeutil.roundInterval): (below this many ms, use this many ms).
SCREEN_PX = 1900  # a panel 24 grid columns wide
ROUNDING_MS = (
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
    (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000),
    (45000, 30000), (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000),
    (1050000, 900000), (1500000, 1200000), (2700000, 1800000), (5400000, 3600000),
    (9000000, 7200000), (16200000, 10800000), (32400000, 21600000), (86400000, 43200000),
    (604800000, 86400000), (1814400000, 604800000), (3628800000, 2592000000),
)  # fmt: skip
LONGEST_MS = 31536000000


# Timing ---------------------------------------------------------------------------------


def summary(times_ms: list[float]) -> dict:
    values = np.asarray(times_ms, dtype=float)
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p95_ms": float(np.percentile(values, 95)),
        "max_ms": float(values.max()),
        "runs": len(values),
    }


def _timed_rounds(actions: dict[str, Callable[[], object]], repeat: int, budget_s: float):
    """Each action once per round, `repeat` rounds or until `budget_s` is spent (at least
    MIN_RUNS rounds): interleaved, so load on the machine hits every action alike."""
    times: dict[str, list[float]] = {name: [] for name in actions}
    deadline = time.perf_counter() + budget_s
    for done in range(repeat):
        if done >= MIN_RUNS and time.perf_counter() > deadline:
            break
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: summary(values) for name, values in times.items()}


# GET /jobs ------------------------------------------------------------------------------


def split_namespace(owner: str) -> tuple[str, str]:
    """(MINIO_BUCKET_PREFIX, public id) whose concatenation, the API's namespace of a user,
    is `owner`: the default prefix when `owner` starts with it, else up to trailing digits."""
    prefix_rule = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
    if owner.startswith(DEFAULT_PREFIX) and 0 < len(owner) - len(DEFAULT_PREFIX) <= 32:
        return DEFAULT_PREFIX, owner[len(DEFAULT_PREFIX) :]
    match = re.fullmatch(r"(.+?)([0-9]{1,32})", owner) or re.fullmatch(r"(.+)(.)", owner)
    if match is None or not prefix_rule.fullmatch(match.group(1)):
        raise ValueError(f"owner {owner!r} cannot be an API namespace (MINIO_BUCKET_PREFIX + id)")
    return match.group(1), match.group(2)


def _api_env(dsn: str, prefix: str) -> dict[str, str]:
    """Production settings on the database of `dsn`. The object store is a loopback port
    nothing listens on: GET /jobs and the account routes never reach it."""
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy.engine import URL

    from tests.support.net import free_port

    params = conninfo_to_dict(dsn)
    url = URL.create(
        "postgresql+psycopg",
        username=params.get("user") or os.environ.get("PGUSER", "postgres"),
        password=params.get("password") or None,
        host=params.get("host") or "127.0.0.1",
        port=int(params.get("port") or 5432),
        database=params.get("dbname"),
        query={"sslmode": params["sslmode"]} if params.get("sslmode") else {},
    )
    return {
        "APP_ENV": "production",
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "JWT_SECRET": secrets.token_urlsafe(48),
        "BUCKET_TOKEN_SECRET": secrets.token_urlsafe(48),
        "MINIO_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "MINIO_ACCESS_KEY": "bench-read-paths",
        "MINIO_SECRET_KEY": secrets.token_urlsafe(24),
        "MINIO_BUCKET_PREFIX": prefix,
        "LOG_LEVEL": "WARNING",
    }


def _expect(answer, status: int, what: str) -> None:
    if answer.status_code != status:
        raise RuntimeError(f"{what} answered {answer.status_code}: {answer.text[:200]}")


def _token(http, dsn: str, owner: str, public_id: str) -> str:
    """An account whose namespace is `owner`, logged in through the API's own routes.

    Registering gives a random public id (the namespace is derived from it), so the new
    account's id is set to the one `owner` needs before logging in; an account of an earlier
    run of this bench holding that id is removed first, anybody else's is never touched."""
    import psycopg

    username = BENCH_USER + secrets.token_hex(4)
    password = "read paths bench " + secrets.token_hex(8)
    credentials = {"username": username, "password": password}
    _expect(http.post("/auth/register", json=credentials), 201, "POST /auth/register")
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(
            "DELETE FROM api_users WHERE public_id = %s AND username LIKE %s",
            (public_id, BENCH_USER + "%"),
        )
        try:
            con.execute(
                "UPDATE api_users SET public_id = %s WHERE username = %s", (public_id, username)
            )
        except psycopg.errors.UniqueViolation:
            raise RuntimeError(f"another account already has the namespace {owner}") from None
    answer = http.post("/auth/password", json=credentials)
    _expect(answer, 200, "POST /auth/password")
    token = answer.json()["access_token"]
    me = http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    _expect(me, 200, "GET /auth/me")
    if me.json()["namespace"] != owner:
        raise RuntimeError(f"the account's namespace is {me.json()['namespace']}, not {owner}")
    return token


def measure_listing(dsn: str, owner: str, repeat: int) -> dict:
    """GET /jobs's first page and a deep page, through uvicorn on a loopback port."""
    import httpx

    from tests.support.servers import AppProcess

    prefix, public_id = split_namespace(owner)
    api = AppProcess(
        "api_backend.main:app", _api_env(dsn, prefix), extra_args=["--no-proxy-headers"]
    )
    try:
        api.start()
        with httpx.Client(base_url=api.base_url, timeout=30.0) as http:
            http.headers["Authorization"] = "Bearer " + _token(http, dsn, owner, public_id)

            def get(params: dict[str, str]) -> httpx.Response:
                answer = http.get("/jobs", params=params)
                _expect(answer, 200, "GET /jobs")
                return answer

            first = get({}).json()
            body, deep, page, walk_started = first, {}, 1, time.perf_counter()
            while page < DEEP_PAGE and body["next_cursor"]:
                deep = {"cursor": body["next_cursor"]}
                body, page = get(deep).json(), page + 1
            walk_s = time.perf_counter() - walk_started
            timings = _timed_rounds(
                {"first": lambda: get({}), "deep": lambda: get(deep)}, repeat, LISTING_BUDGET_S
            )
        if "Traceback" in api.output():
            raise RuntimeError("the API logged a crash:\n" + api.output()[-2000:])
    finally:
        api.stop()
        Path(api.log.name).unlink(missing_ok=True)
    return {
        "jobs_of_owner": first["total"],
        "page_limit": first["limit"],
        "first_page_jobs": len(first["jobs"]),
        "deep_page": page,
        "deep_page_jobs": len(body["jobs"]),
        "walk_s": walk_s,
        "listing": timings,
    }


# Grafana panels -------------------------------------------------------------------------


def grafana_interval(span_s: float, grid_width: int, max_points: int | None = None) -> str:
    """$__interval of a panel `grid_width` of 24 columns wide over `span_s` seconds: a point
    per pixel, or the panel's `maxDataPoints` where it sets them."""
    points = max_points or max(1, round(SCREEN_PX * grid_width / 24))
    raw_ms = span_s * 1000 / points
    rounded = next((ms for below, ms in ROUNDING_MS if raw_ms < below), LONGEST_MS)
    for unit, size in (("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000)):
        if rounded % size == 0:
            return f"{rounded // size}{unit}"
    return f"{rounded}ms"


def _sql_value(variable: dict, values: str | list[str]) -> str:
    from tests.deploy import grafana_sql

    multi = bool(variable.get("multi") or variable.get("includeAll"))
    if multi and not values:
        return "''"  # nothing to choose: Grafana shows the panel empty; '' keeps the SQL valid
    return grafana_sql.variable_text(variable, values)


def _render(sql: str, dashboard: dict, values: dict, interval: str, span) -> str:
    from tests.deploy import grafana_sql

    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    formatted = {name: _sql_value(variables[name], value) for name, value in values.items()}
    return grafana_sql.render(sql, variables=formatted, interval=interval, time_range=span)


def _choice(variable: dict, options: list[str], job_table: str) -> str | list[str]:
    """What the dashboard opens with: the measured job, "All" (the variable's custom all
    value, else every option), the saved value, else the first option (Grafana's pick for a
    variable without a saved value)."""
    from tests.deploy import grafana_sql

    if variable["name"] == JOB_VARIABLE:
        return job_table
    current = (variable.get("current") or {}).get("value")
    if (variable.get("includeAll") and current in (None, "", [])) or grafana_sql.is_all(current):
        return grafana_sql.ALL if variable.get("allValue") else options
    if current not in (None, "", []):
        return current
    if variable.get("multi"):
        return options[:1]
    return options[0] if options else ""


def _run_query(con, sql: str, repeat: int) -> tuple[dict, list[tuple]]:
    """One untimed run (its rows are returned and counted), then the timed ones."""
    import psycopg

    def run() -> list[tuple]:
        with con.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    try:
        with con.cursor() as cursor:
            cursor.execute(sql)
            names = [column.name for column in cursor.description or ()]
            rows = cursor.fetchall()
        timing = _timed_rounds({"query": run}, repeat, QUERY_BUDGET_S)["query"]
    except psycopg.Error as exc:
        return {"error": str(exc).strip().splitlines()[0][:160]}, []
    if "__value" in names:  # a variable's option values, when it names them
        at = names.index("__value")
        rows = [(row[at], *row[:at], *row[at + 1 :]) for row in rows]
    return {"rows": len(rows), **timing}, rows


def _spans(con, job_table: str):
    from tests.deploy.grafana_sql import TimeRange

    start, end = con.execute(
        "SELECT least(min(start_time), min(analysed_at)),"
        " greatest(max(end_time), max(analysed_at)) FROM job_summary"
    ).fetchone()
    if start is None:
        raise RuntimeError("job_summary is empty: there is nothing to read")
    everything = TimeRange(start - timedelta(days=1), end + timedelta(days=1))
    row = con.execute(
        "SELECT start_time, end_time FROM job_summary WHERE table_name = %s", (job_table,)
    ).fetchone()
    if row is None or None in row:
        raise RuntimeError(f"no job_summary row with a run time has table_name {job_table}")
    job = TimeRange(row[0] - timedelta(minutes=1), row[1] + timedelta(minutes=1))
    return everything, job


def measure_panels(dsn: str, job_table: str, repeat: int) -> dict:
    import psycopg

    dashboards = {p.stem: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}
    results = []
    # No prepared statements: Grafana sends each query anew.
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as con:
        con.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")
        everything, job = _spans(con, job_table)
        try:
            (job_rows,) = con.execute(f'SELECT count(*) FROM "{job_table}"').fetchone()  # noqa: S608
        except psycopg.Error as exc:
            raise RuntimeError(f"{job_table} is not readable: {str(exc).strip()[:160]}") from None
        (jobs_in_database,) = con.execute("SELECT count(*) FROM job_summary").fetchone()
        for name, dashboard in dashboards.items():
            variables = dashboard["templating"]["list"]
            span = job if any(v["name"] == JOB_VARIABLE for v in variables) else everything
            span_s = (span.end - span.start).total_seconds()
            values: dict[str, str | list[str]] = {}
            for variable in variables:
                query = variable.get("query")
                query = query.get("query") if isinstance(query, dict) else query
                sql = _render(query, dashboard, values, grafana_interval(span_s, 24), span)
                found, rows = _run_query(con, sql, repeat)
                options = [str(row[0]) for row in rows]  # __value first, else the first column
                values[variable["name"]] = _choice(variable, options, job_table)
                results.append(
                    {"dashboard": name, "panel": "$" + variable["name"], "kind": "variable"} | found
                )
            for panel in dashboard["panels"]:
                targets = [t for t in panel.get("targets", []) if t.get("rawSql")]
                for target in targets:
                    width = panel["gridPos"]["w"]
                    interval = grafana_interval(span_s, width, panel.get("maxDataPoints"))
                    sql = _render(target["rawSql"], dashboard, values, interval, span)
                    title = panel["title"] + (f" ({target['refId']})" if len(targets) > 1 else "")
                    results.append(
                        {"dashboard": name, "panel": title, "kind": panel["type"]}
                        | _run_query(con, sql, repeat)[0]
                    )
    return {"jobs_in_database": jobs_in_database, "job_rows": job_rows, "panels": results}


def measure_reads(
    dsn: str, *, owner: str, job_table: str, repeat: int = 200, panel_repeat: int = PANEL_REPEAT
) -> dict:
    """GET /jobs of `owner` (the jobs' `owner` column) and every Grafana query, on the database
    of libpq `dsn`; the job-detail dashboard shows the job whose table_name is `job_table`.

    Starts the API on the database (its migrations are applied at start-up, as in production)
    and leaves one account in it. Returns plain numbers (JSON-able)."""
    if not JOB_RELATION.fullmatch(job_table):
        raise ValueError(f"job_table {job_table!r} is not a job_<id> relation name")
    started = time.perf_counter()
    listing = measure_listing(dsn, owner, repeat)
    panels = measure_panels(dsn, job_table, panel_repeat)
    return {"owner": owner, "job_table": job_table, **listing, **panels,
            "seconds": time.perf_counter() - started}  # fmt: skip


# Report ---------------------------------------------------------------------------------


def verdict(p95_ms: float, target_ms: float) -> str:
    return "PASS" if p95_ms < target_ms else "FAIL"


def _block(result: dict | None, with_rows: bool) -> str:
    """`rows p50 p95 max` (or without rows) of one database, or why there are none."""
    width = 31 if with_rows else 24
    if result is None or "error" in result:
        return f"{'-' if result is None else 'error':>{width}}"
    cells = f"{result['p50_ms']:8.1f}{result['p95_ms']:8.1f}{result['max_ms']:8.1f}"
    return (f"{result['rows']:>7}" if with_rows else "") + cells


def _headers(first: str, with_rows: bool, target_ms: float) -> str:
    width = 31 if with_rows else 24
    names = (f"{'rows':>7}" if with_rows else "") + f"{'p50':>8}{'p95':>8}{'max':>8}"
    groups = f"{' baseline ':-^{width}}  {' filled ':-^{width}}"
    return f"{'':<{len(first)}}  {groups}\n{first}  {names}  {names}  p95 < {target_ms:.0f} ms"


def print_reads(empty: dict, filled: dict) -> None:
    """The empty database's and the filled one's numbers side by side, PASS/FAIL on the
    filled one's p95."""
    load = os.getloadavg()[0]
    print(f"\nRead paths; {os.cpu_count()} CPUs; load average {load:.1f}")
    for label, run in (("baseline", empty), ("filled", filled)):
        print(
            f"  {label}: job_summary rows {run['jobs_in_database']:,}, jobs of {run['owner']} "
            f"{run['jobs_of_owner']:,}; deep page = page {run['deep_page']} "
            f"({run['deep_page_jobs']} jobs), walked to in {run['walk_s']:.1f} s; "
            f"{run['job_table']} holds {run['job_rows']:,} rows"
        )

    print("\nGET /jobs over HTTP (one uvicorn process on 127.0.0.1), ms")
    print(_headers(f"{'request':<24}", False, LISTING_TARGET_MS))
    labels = {"first": f"first page ({filled['page_limit']})", "deep": "deep page (cursor)"}
    for case, label in labels.items():
        mine = filled["listing"][case]
        cells = f"{_block(empty['listing'][case], False)}  {_block(mine, False)}"
        print(f"{label:<24}  {cells}  {verdict(mine['p95_ms'], LISTING_TARGET_MS)}")
    runs = [r["runs"] for r in (*empty["listing"].values(), *filled["listing"].values())]
    print(f"({min(runs)}-{max(runs)} requests each, first and deep page interleaved)")

    print("\nGrafana queries as Grafana sends them (psycopg), ms and rows returned")
    print(_headers(f"{'dashboard':<14}{'panel':<38}{'kind':<11}", True, PANEL_TARGET_MS))
    baseline = {(r["dashboard"], r["panel"], r["kind"]): r for r in empty["panels"]}
    passed, slowest = 0, None
    for result in filled["panels"]:
        key = (result["dashboard"], result["panel"], result["kind"])
        if "error" in result:
            mark = "ERROR " + result["error"]
        else:
            mark = verdict(result["p95_ms"], PANEL_TARGET_MS)
            passed += mark == "PASS"
            mark += " (no rows)" if result["rows"] == 0 else ""
            if slowest is None or result["p95_ms"] > slowest["p95_ms"]:
                slowest = result
        name = f"{result['dashboard']:<14}{result['panel'][:37]:<38}{result['kind']:<11}"
        print(f"{name}  {_block(baseline.get(key), True)}  {_block(result, True)}  {mark}")
    runs = [r["runs"] for r in (*empty["panels"], *filled["panels"]) if "runs" in r]
    print(f"({min(runs, default=0)}-{max(runs, default=0)} runs each, after one untimed run)")
    line = f"{passed} of {len(filled['panels'])} queries PASS on the filled database"
    if slowest is not None:
        line += f"; slowest: {slowest['dashboard']} / {slowest['panel']}"
        line += f", p95 {slowest['p95_ms']:.1f} ms"
    print(line)


# Standalone: scratch databases filled with SQL -------------------------------------------

OWNER = "user-bench"
BASELINE_JOBS = 5
JOB_NODES = ("node1", "node2")
JOB_SECONDS = 1800  # a job runs 30 min: with 2 nodes at 1 Hz, 3,600 samples
ID_STRIDE = 1_000_000  # job ids: owner number x ID_STRIDE + the owner's job number

FILL = """
CREATE TEMP TABLE bench_jobs AS
SELECT owner, k * %(stride)s + g AS id, g, g > %(jobs)s AS waiting, g %% 50 = 0 AS failed,
       's3://benchmarks/' || owner || '/run' || (g / 100) || '/job_' || (k * %(stride)s + g)
           AS source,
       owner || '/run' || (g / 100) || '/' || (k * %(stride)s + g) AS stem,
       timestamptz '2026-01-01' + g * interval '5 minutes' AS end_time,
       (ARRAY['hpl', 'stream', 'hpcg', NULL])[1 + g %% 4] AS benchmark
FROM unnest(%(owners)s::text[]) WITH ORDINALITY AS o(owner, k),
     generate_series(1, %(jobs)s + %(waiting)s) g;

INSERT INTO job_summary (source, job_id, owner, status, table_name, analysed_at, has_energy,
    power_source, n_nodes, n_steps, n_tasks, start_time, end_time, energy_j, energy_kwh,
    time_to_solution_s, avg_power_w, peak_power_w, edp_js, coverage, cost_eur, co2_g,
    mean_cpu_util_pct, max_rss_mib, benchmark, benchmark_set_by, n_files, n_files_failed,
    work_source, work_unit, work_value, gflops, gflop, gflops_per_w, energy_per_gflop_j,
    eur_per_gflop)
SELECT source, id::text, owner, 'ok', 'job_' || id, end_time + interval '2 minutes', true,
       'energy counter', 2, 1, 2, end_time - interval '30 minutes', end_time, e, e / 3.6e6,
       1800, e / 1800, e / 1800 * 1.2, e * 1800, 1.0, e / 3.6e6 * 0.25, e / 3.6e6 * 350,
       80, 1200, benchmark, CASE WHEN benchmark IS NOT NULL THEN 'upload' END, 3, 0,
       w.work_source, w.work_unit, gf, gf, gf * 1800, gf / (e / 1800), e / (gf * 1800),
       e / 3.6e6 * 0.25 / (gf * 1800)
FROM bench_jobs,
     LATERAL (SELECT 540000.0 + (g %% 7) * 1000 AS e,
                     CASE WHEN benchmark IS NOT NULL THEN 100.0 + g %% 13 END AS gf) f,
     LATERAL (SELECT CASE WHEN benchmark IS NOT NULL THEN 'given' END AS work_source,
                     CASE WHEN benchmark IS NOT NULL THEN 'GFLOP/s' END AS work_unit) w
WHERE NOT waiting;

UPDATE job_summary s SET status = 'failed', error = 'bench: no readable Energy data',
    table_name = NULL, has_energy = NULL, power_source = NULL, start_time = NULL,
    end_time = NULL, energy_j = NULL, energy_kwh = NULL, time_to_solution_s = NULL,
    avg_power_w = NULL, peak_power_w = NULL, edp_js = NULL, coverage = NULL, cost_eur = NULL,
    co2_g = NULL, mean_cpu_util_pct = NULL, max_rss_mib = NULL, work_source = NULL,
    work_unit = NULL, work_value = NULL, gflops = NULL, gflop = NULL, gflops_per_w = NULL,
    energy_per_gflop_j = NULL, eur_per_gflop = NULL, n_files_failed = 3
FROM bench_jobs j WHERE j.source = s.source AND j.failed;

INSERT INTO job_step_node (source, level, step, node, has_energy, power_source, n_nodes,
    n_steps, n_tasks, start_time, end_time, energy_j, energy_kwh, time_to_solution_s,
    avg_power_w, peak_power_w, coverage, cost_eur, co2_g, mean_cpu_util_pct, max_rss_mib)
SELECT s.source, l.level, l.step, l.node, true, s.power_source, l.nodes, 1, l.nodes,
       s.start_time, s.end_time, s.energy_j * l.share, s.energy_kwh * l.share,
       s.time_to_solution_s, s.avg_power_w * l.share, s.peak_power_w * l.share, 1.0,
       s.cost_eur * l.share, s.co2_g * l.share, 80, 1200
FROM job_summary s,
     (VALUES ('step', '0', NULL, 1.0, 2), ('node', NULL, 'node1', 0.5, 1),
             ('node', NULL, 'node2', 0.5, 1), ('step_node', '0', 'node1', 0.5, 1),
             ('step_node', '0', 'node2', 0.5, 1)) AS l(level, step, node, share, nodes)
WHERE s.status = 'ok';

INSERT INTO job_files (job_source, file_source, file_name, role, etag, step, node, status,
    error, analysed_at)
SELECT j.source, 's3://benchmarks/' || j.stem || f.suffix, j.id || f.suffix, 'node_step',
       'etag', f.step, f.node, CASE WHEN j.failed THEN 'failed' ELSE 'ok' END,
       CASE WHEN j.failed THEN 'bench: no readable Energy data' END,
       j.end_time + interval '2 minutes'
FROM bench_jobs j,
     (VALUES ('_0_node1.h5', '0', 'node1'), ('_0_node2.h5', '0', 'node2'),
             ('_batch_node1.h5', 'batch', 'node1')) AS f(suffix, step, node)
WHERE NOT j.waiting;

INSERT INTO ingest_objects (bucket, key, source, owner, etag, size_bytes, status, received_at,
    updated_at, job_source, benchmark)
SELECT 'benchmarks', j.stem || f.suffix, 's3://benchmarks/' || j.stem || f.suffix, j.owner,
       'etag', 1048576, CASE WHEN j.waiting THEN 'queued' WHEN j.failed THEN 'failed'
       ELSE 'ok' END, j.end_time + interval '1 minute', j.end_time + interval '2 minutes',
       j.source, j.benchmark
FROM bench_jobs j, unnest(ARRAY['_0_node1.h5', '_0_node2.h5', '_batch_node1.h5']) AS f(suffix)
"""

# The detail job's samples, per JOB_TIMESERIES column; columns not named here stay NULL.
SAMPLE_VALUES = {
    "step": "'0'",
    "node": "n.node",
    "time": "t.at",
    "epoch_s": "extract(epoch FROM t.at)::bigint",
    "elapsed_s": "s",
    "power_w": "150 + 20 * sin(s / 60.0) + n.i * 5",
    "energy_j": "(150 + n.i * 5) * (s + 1)",
    "price_eur_per_mwh": "250",
    "cost_eur": "(150 + n.i * 5) * (s + 1) / 3.6e9 * 250",
    "carbon_g_per_kwh": "350",
    "co2_g": "(150 + n.i * 5) * (s + 1) / 3.6e6 * 350",
    "n_tasks_sampled": "1",
    "cpu_util_pct": "80 + 10 * sin(s / 30.0)",
    "cpu_time_s": "0.8 * s",
    "cpu_frequency_mhz": "2400",
    "rss_mib": "1024 + s / 10.0",
    "vmsize_mib": "2048",
    "read_mib": "0.1 * s",
    "write_mib": "0.05 * s",
}


def _pg_type(arrow_type) -> str:
    import pyarrow as pa

    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    names = {pa.string(): "text", pa.int64(): "bigint", pa.int32(): "integer",
             pa.float64(): "double precision", pa.bool_(): "boolean"}  # fmt: skip
    return names[arrow_type]


def detail_table_sql(table: str, start_expr: str) -> tuple[str, str]:
    """CREATE TABLE and INSERT of the detail job's samples: every JOB_TIMESERIES column."""
    from analysis_module.pipeline_core.schema import JOB_TIMESERIES

    columns = ", ".join(
        f'"{f.name}" {_pg_type(f.type)}' + ("" if f.nullable else " NOT NULL")
        for f in JOB_TIMESERIES
    )
    names = ", ".join(f'"{f.name}"' for f in JOB_TIMESERIES)
    values = ", ".join(SAMPLE_VALUES.get(f.name, "NULL") for f in JOB_TIMESERIES)
    nodes = ", ".join(f"('{node}', {i})" for i, node in enumerate(JOB_NODES))
    insert = (
        f'INSERT INTO "{table}" ({names}) SELECT {values} '  # noqa: S608 - our constants
        f"FROM generate_series(0, {JOB_SECONDS - 1}) s, (VALUES {nodes}) AS n(node, i), "
        f"LATERAL (SELECT {start_expr} + s * interval '1 second' AS at) t"
    )
    return f'CREATE TABLE "{table}" ({columns})', insert


def fill(dsn: str, *, jobs: int, others: int, waiting: int) -> str:
    """The jobs, and one job's samples table; returns that table's name."""
    import psycopg

    owners = [OWNER, *(f"user-other{i}" for i in range(others))]
    number = max(1, jobs // 2)
    if number % 50 == 0:  # every 50th job's analysis failed: it has no samples
        number -= 1
    table = f"job_{ID_STRIDE + number}"
    values = {"jobs": jobs, "waiting": waiting, "owners": owners, "stride": ID_STRIDE}
    with psycopg.connect(dsn) as con:
        for statement in filter(str.strip, FILL.split(";")):
            con.execute(statement, values)
        create, insert = detail_table_sql(
            table,
            f"(SELECT start_time FROM job_summary WHERE table_name = '{table}')",  # noqa: S608
        )
        con.execute(create)
        con.execute(insert)
        con.commit()
        # the tables, not the views of the same names in `public` (ANALYZE skips a view):
        # without statistics the planner reads every job of the user for a page of 50
        for analysed in ("results.job_summary", "results.job_step_node", "results.job_files"):
            con.execute(f"ANALYZE {analysed}")
        for analysed in ("ingest_objects", table):
            con.execute(f'ANALYZE "{analysed}"')
    return table


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs of the measured user")
    parser.add_argument("--others", type=int, default=2, help="other users with as many jobs")
    parser.add_argument("--waiting", type=int, default=20, help="jobs per user not analysed yet")
    parser.add_argument("--repeat", type=int, default=200, help="requests per GET /jobs case")
    parser.add_argument("--panel-repeat", type=int, default=PANEL_REPEAT, help="runs per query")
    args = parser.parse_args(argv)
    bounded = (
        BASELINE_JOBS <= args.jobs <= 100_000
        and 0 <= args.others <= 10
        and 0 <= args.waiting <= 1000
        and MIN_RUNS <= args.repeat <= 2000
        and MIN_RUNS <= args.panel_repeat <= 200
    )
    if not bounded:
        parser.error(
            f"keep it bounded: --jobs {BASELINE_JOBS}-100000, --others 0-10, --waiting 0-1000, "
            f"--repeat {MIN_RUNS}-2000, --panel-repeat {MIN_RUNS}-200"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from analysis_module.migrate import upgrade_database as upgrade_analysis
    from api_backend.migrate import upgrade_database as upgrade_api
    from tests.support import postgres

    shapes = {"empty": (BASELINE_JOBS, 2), "filled": (args.jobs, args.waiting)}
    databases, results = [], {}
    try:
        for label, (jobs, waiting) in shapes.items():
            db = postgres.create_database(f"bs_bench_reads_{label}")
            databases.append(db)
            upgrade_analysis(db.dsn)
            upgrade_api(db.sqlalchemy_url)
            started = time.perf_counter()
            table = fill(db.dsn, jobs=jobs, others=args.others, waiting=waiting)
            print(f"{label}: filled in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            results[label] = measure_reads(
                db.dsn, owner=OWNER, job_table=table, repeat=args.repeat,
                panel_repeat=args.panel_repeat,
            )  # fmt: skip
            print(f"{label}: measured in {results[label]['seconds']:.0f} s", file=sys.stderr)
    finally:
        for db in databases:
            postgres.drop_database(db)
    print(f"\nfilled: {args.jobs:,} jobs of {OWNER}, {args.others} other users alike, "
          f"{args.waiting} waiting jobs each; baseline: {BASELINE_JOBS} jobs each")  # fmt: skip
    print_reads(results["empty"], results["filled"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
