"""Every Grafana panel and variable query, run against PostgreSQL filled by the real pipeline.

The sample profiles go through `analysis_module.app.runner` (as the workers run it) into a fresh,
migrated database, for two users plus one profile that can't be analysed. The queries then
run the way Grafana sends them (variables interpolated, macros expanded: `grafana_sql`) as a
role that has only the grants of deploy/grafana/grafana-reader.sql.

Benchmarks are set with SQL on the produced rows (`_name_benchmarks`, as an upload or the
owner names them); job_files rows are the pipeline's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.conftest import EXAMPLES, apply_migrations
from tests.deploy import grafana_sql
from tests.deploy.manifests import ROOT
from tests.support import postgres

GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = {
    path.stem: json.loads(path.read_text()) for path in (GRAFANA / "dashboards").glob("*.json")
}
DATASOURCE = yaml.safe_load((GRAFANA / "provisioning/datasources/benchsuite.yaml").read_text())[
    "datasources"
][0]
NUMBER = (int, float, Decimal)
OWNERS = ("user-abc123", "user-def456")
# Benchmarks of the produced jobs: the merged sample files of the first user ran `hpl`, the
# other user's `stream`; the rest name none.
BENCHMARKS = {
    f"s3://benchmarks/{OWNERS[0]}/job_%": "hpl",
    f"s3://benchmarks/{OWNERS[1]}/%": "stream",
}
NO_BENCHMARK = "(none)"
LOCAL_JOB = "/scratch/profiles/job_5.h5"


@dataclass
class Results:
    db: postgres.PgDatabase
    reader: str
    connection: psycopg.Connection

    def query(self, sql: str) -> tuple[list[str], list[tuple]]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql)
            return [column.name for column in cursor.description], cursor.fetchall()


def _analyse_samples(db: postgres.PgDatabase, tmp: Path) -> list:
    from analysis_module.app.runner import FactorOptions, build_runner
    from analysis_module.settings import AnalysisSettings

    runner = build_runner(
        AnalysisSettings(**db.env()),
        factor_options=FactorOptions(flat_price_eur_per_kwh=0.3, carbon_g_per_kwh=350),
    )
    broken = tmp / "truncated.h5"
    broken.write_bytes((EXAMPLES / "job_4.h5").read_bytes()[:4096])
    jobs = [(path, OWNERS[0]) for path in sorted(EXAMPLES.glob("**/*.h5"))]
    jobs += [(EXAMPLES / "job_4.h5", OWNERS[1]), (broken, OWNERS[1])]
    try:
        outcomes = [
            runner.analyse_file(path, source=f"s3://benchmarks/{owner}/{path.name}", owner=owner)
            for path, owner in jobs
        ]
        # A job of no user (a batch run on local files): no user's "All" may show it.
        outcomes.append(runner.analyse_file(EXAMPLES / "job_5.h5", source=LOCAL_JOB, owner=None))
        return outcomes
    finally:
        runner.close()


def _name_benchmarks(conn: psycopg.Connection) -> None:
    for pattern, benchmark in BENCHMARKS.items():
        conn.execute(
            """UPDATE job_summary SET benchmark = %s, benchmark_set_by = 'upload'
            WHERE source LIKE %s""",
            (benchmark, pattern),
        )


def _apply_reader_grants(db: postgres.PgDatabase, reader: str) -> None:
    """The operator's step from docs/operations.md, as written there (psql)."""
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed (it comes with the PostgreSQL the tests use)")
    subprocess.run(
        [
            psql,
            "--no-psqlrc",
            "--quiet",
            f"--set=reader={reader}",
            f"--file={GRAFANA / 'grafana-reader.sql'}",
            db.dsn,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PGPASSWORD": db.password},
    )


@contextlib.contextmanager
def results_as_reader(
    prefix: str, fill: Callable[[postgres.PgDatabase], None]
) -> Iterator[Results]:
    """A migrated database that `fill` writes into, read as a role with only the grants of
    grafana-reader.sql; database and role are dropped afterwards."""
    db = postgres.create_database(prefix)
    reader = f"grafana_reader_{uuid.uuid4().hex[:8]}"
    try:
        apply_migrations(db)
        fill(db)
        with db.connect() as conn:
            conn.execute(f'CREATE ROLE "{reader}" NOLOGIN')
        _apply_reader_grants(db, reader)
        with db.connect() as conn:
            conn.execute(f'SET ROLE "{reader}"')
            yield Results(db, reader, conn)
    finally:
        postgres.drop_database(db)
        with postgres.server().connect() as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{reader}"')


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    def fill(db: postgres.PgDatabase) -> None:
        outcomes = _analyse_samples(db, tmp_path_factory.mktemp("profiles"))
        assert [o.status for o in outcomes].count("failed") == 1, outcomes
        with db.connect() as conn:
            _name_benchmarks(conn)

    with results_as_reader("bs_grafana", fill) as found:
        yield found


def _targets(dashboard: dict):
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel, target


def _variables(dashboard: dict) -> dict[str, dict]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def _render(sql: str, dashboard: dict, values: dict, interval: str, span) -> str:
    formatted = {
        name: grafana_sql.variable_text(var, values[name])
        for name, var in _variables(dashboard).items()
        if name in values
    }
    return grafana_sql.render(sql, variables=formatted, interval=interval, time_range=span)


def _check_shape(panel: dict, target: dict, columns: list[str], rows: list[tuple]) -> None:
    title = panel["title"]
    assert rows, f"{title}: no rows"
    assert len(set(columns)) == len(columns) and "?column?" not in columns, f"{title}: {columns}"
    if target["format"] == "time_series":
        assert columns[0] == "time", title
        for row in rows:
            assert isinstance(row[0], (*NUMBER, datetime)), f"{title}: time {row[0]!r}"
            for name, value in zip(columns[1:], row[1:], strict=True):
                if name == "metric":
                    assert isinstance(value, str), f"{title}: metric {value!r}"
                else:
                    assert value is None or isinstance(value, NUMBER), f"{title}: {name}={value!r}"
    if panel["type"] == "stat":
        for row in rows:
            assert all(v is None or isinstance(v, NUMBER) for v in row), f"{title}: {row}"
    # Units, hidden columns and links refer to columns by name: each must exist.
    named = [o["matcher"]["options"] for o in panel["fieldConfig"]["overrides"]]
    for transformation in panel.get("transformations", []):
        named += list(transformation["options"].get("excludeByName", {}))
    links = json.dumps(panel["fieldConfig"])
    named += re.findall(r"__data\.fields\.(\w+)", links)
    assert set(named) <= set(columns), f"{title}: {set(named) - set(columns)} not returned"


def _has_values(columns: list[str], rows: list[tuple]) -> bool:
    numeric = [i for i, name in enumerate(columns) if name not in ("time", "metric")]
    return any(row[i] is not None for row in rows for i in numeric)


def test_dashboards_use_the_provisioned_data_source():
    assert set(DASHBOARDS) == {"jobs-overview", "job-detail", "benchmark"}
    assert len({d["uid"] for d in DASHBOARDS.values()}) == 3
    for dashboard in DASHBOARDS.values():
        sources = [p["datasource"] for p in dashboard["panels"]]
        sources += [t["datasource"] for _, t in _targets(dashboard)]
        sources += [v["datasource"] for v in dashboard["templating"]["list"]]
        for source in sources:
            assert source == {"type": DATASOURCE["type"], "uid": DATASOURCE["uid"]}
        for panel, target in _targets(dashboard):
            assert target["rawQuery"] and target["editorMode"] == "code", panel["title"]
            assert target["format"] in ("time_series", "table"), panel["title"]
            used = set(re.findall(r"\$(\w+)", target["rawSql"])) - {"__interval"}
            used = {name for name in used if not name.startswith("__")}
            assert used <= set(_variables(dashboard)), panel["title"]


def test_macros_expand_as_grafana_does():
    span = grafana_sql.TimeRange(datetime(2026, 1, 1, 0, 0), datetime(2026, 1, 2, 0, 0, 30))
    sql = "SELECT $__timeGroupAlias(time, $__interval), x FROM t WHERE $__timeFilter(time)"
    assert grafana_sql.render(sql, variables={}, interval="1h", time_range=span) == (
        'SELECT floor(extract(epoch from time)/3600)*3600 AS "time", x FROM t '
        "WHERE time BETWEEN '2026-01-01T00:00:00Z' AND '2026-01-02T00:00:30Z'"
    )
    assert grafana_sql.sql_value(["a", "o'b"], multi=True) == "'a','o''b'"


def _overview_span(results: Results) -> grafana_sql.TimeRange:
    """A day either side of everything the overview plots: the jobs' run times and the times
    their analyses were recorded (a failed analysis has no run time, only `analysed_at`)."""
    _, rows = results.query(
        "SELECT least(min(start_time), min(analysed_at)),"
        " greatest(max(end_time), max(analysed_at)) FROM job_summary"
    )
    start, end = rows[0]
    return grafana_sql.TimeRange(start - timedelta(days=1), end + timedelta(days=1))


def _benchmarks(results: Results, dashboard: dict, owners=OWNERS) -> list[str]:
    sql = _render(
        _variables(dashboard)["benchmark"]["query"], dashboard, {"owner": list(owners)}, "1s", None
    )
    return [row[0] for row in results.query(sql)[1]]


def _all(results: Results, dashboard: dict) -> dict[str, str]:
    """The variables' "All", as the dashboards open."""
    return {"owner": grafana_sql.ALL, "benchmark": grafana_sql.ALL}


def _every_option(results: Results, dashboard: dict) -> dict[str, list[str]]:
    """Every user and every benchmark they have, each chosen by name."""
    return {"owner": list(OWNERS), "benchmark": _benchmarks(results, dashboard)}


def test_owner_variable_lists_every_user(results):
    dashboard = DASHBOARDS["jobs-overview"]
    _columns, rows = results.query(_variables(dashboard)["owner"]["query"])
    owners = [row[0] for row in rows]
    assert owners == sorted(owners) and set(OWNERS) <= set(owners)


@pytest.mark.parametrize("interval", ["1h", "1d"])
def test_overview_panels_return_rows(results, interval):
    dashboard = DASHBOARDS["jobs-overview"]
    span = _overview_span(results)
    for panel, target in _targets(dashboard):
        sql = _render(target["rawSql"], dashboard, _all(results, dashboard), interval, span)
        columns, rows = results.query(sql)
        _check_shape(panel, target, columns, rows)
        if panel["title"] != "Failed analyses":
            assert _has_values(columns, rows), panel["title"]


def _filtered_queries(dashboard: dict) -> Iterator[tuple[str, str]]:
    """(title, SQL) of each variable and panel query that the user or benchmark choice filters
    and that needs no other variable."""
    queries = [("$" + v["name"], v["query"]) for v in dashboard["templating"]["list"]]
    queries += [(panel["title"], target["rawSql"]) for panel, target in _targets(dashboard)]
    for title, sql in queries:
        used = set(re.findall(r"\$(\w+)", sql))
        if used & {"owner", "benchmark"} and not used & {"job", "node", "step"}:
            yield title, sql


def _sorted(rows: list[tuple]) -> list[tuple]:
    return sorted(rows, key=repr)


@pytest.mark.parametrize("name", ["jobs-overview", "job-detail", "benchmark"])
def test_all_selects_what_choosing_every_option_selects(results, name):
    """ "All" is the variables' custom all value, which the SQL reads as no filter, where
    Grafana would send every user's name in each query. It must select exactly what choosing
    every user and every benchmark by name selects, which leaves out a job of no user."""
    dashboard = DASHBOARDS[name]
    span = _overview_span(results)
    every, all_ = _every_option(results, dashboard), _all(results, dashboard)
    if name == "benchmark":  # one benchmark at a time there
        every["benchmark"] = all_["benchmark"] = "hpl"
    _, local = results.query(f"SELECT count(*) FROM job_summary WHERE source = '{LOCAL_JOB}'")
    assert local == [(1,)]
    compared = 0
    for title, sql in _filtered_queries(dashboard):
        rendered = _render(sql, dashboard, all_, "1h", span)
        assert "'(all)' IN ('(all)')" in rendered and OWNERS[0] not in rendered, title
        _, rows = results.query(rendered)
        _, expected = results.query(_render(sql, dashboard, every, "1h", span))
        assert _sorted(rows) == _sorted(expected), title
        assert LOCAL_JOB not in repr(rows), title
        compared += 1
    assert compared == {"jobs-overview": 15, "job-detail": 2, "benchmark": 5}[name]


def test_period_series_bucket_as_grafanas_time_group_macro(results):
    """The per-period panels bucket in double precision; Grafana's `$__timeGroup` macro
    computes in numeric, which costs twice as much over many jobs. The buckets are the same."""
    dashboard = DASHBOARDS["jobs-overview"]
    ours = (
        "floor(date_part('epoch', start_time) * 1000 / $__interval_ms) * $__interval_ms / 1000"
        ' AS "time"'
    )
    series = [(p, t) for p, t in _targets(dashboard) if t["format"] == "time_series"]
    assert len(series) == 4
    span, values = _overview_span(results), _all(results, dashboard)

    def series_of(sql: str, interval: str) -> list[tuple]:
        rows = results.query(_render(sql, dashboard, values, interval, span))[1]
        return [(float(row[0]), *row[1:]) for row in rows]

    for panel, target in series:
        assert ours in target["rawSql"], panel["title"]
        macro = target["rawSql"].replace(ours, "$__timeGroupAlias(start_time, $__interval)")
        for interval in ("1m", "2h", "1d", "1w"):
            rows = series_of(target["rawSql"], interval)
            times = [row[0] for row in rows]
            assert rows and times == sorted(times), (panel["title"], interval)  # Grafana needs it
            assert _sorted(rows) == _sorted(series_of(macro, interval)), (panel["title"], interval)


def test_overview_follows_the_user_selection(results):
    dashboard = DASHBOARDS["jobs-overview"]
    _panel, target = next((p, t) for p, t in _targets(dashboard) if p["title"] == "Jobs")
    values = {**_all(results, dashboard), "owner": [OWNERS[1]]}
    sql = _render(target["rawSql"], dashboard, values, "1h", _overview_span(results))
    columns, rows = results.query(sql)
    assert {row[columns.index("user")] for row in rows} == {OWNERS[1]}
    assert len(rows) == 1  # the truncated upload failed and is not a job


def test_benchmark_variable_lists_the_benchmarks_of_the_selected_users(results):
    dashboard = DASHBOARDS["jobs-overview"]
    variable = _variables(dashboard)["benchmark"]
    assert variable["multi"] and variable["includeAll"]
    assert _benchmarks(results, dashboard) == sorted(["hpl", "stream", NO_BENCHMARK])
    assert _benchmarks(results, dashboard, owners=[OWNERS[1]]) == ["stream"]


def _ok_jobs(results: Results, benchmarks: list[str]) -> int:
    names = ", ".join(f"'{b}'" for b in benchmarks)
    _, rows = results.query(
        "SELECT count(*) FROM job_summary WHERE status = 'ok' AND owner IS NOT NULL "
        f"AND coalesce(benchmark, '{NO_BENCHMARK}') IN ({names})"
    )
    return rows[0][0]


@pytest.mark.parametrize("chosen", [["hpl"], [NO_BENCHMARK], ["hpl", "stream"]])
def test_every_overview_panel_follows_the_benchmark_selection(results, chosen):
    dashboard = DASHBOARDS["jobs-overview"]
    values = {"owner": list(OWNERS), "benchmark": chosen}
    span = _overview_span(results)
    titled = {}
    for panel, target in _targets(dashboard):
        sql = _render(target["rawSql"], dashboard, values, "1d", span)
        assert "IN ($benchmark)" in target["rawSql"], f"{panel['title']}: not filtered"
        titled[(panel["type"], panel["title"])] = results.query(sql)
    columns, rows = titled[("table", "Jobs")]
    shown = {row[columns.index("benchmark")] or NO_BENCHMARK for row in rows}
    assert shown == set(chosen) and len(rows) == _ok_jobs(results, chosen)
    assert titled[("stat", "Jobs analysed")][1] == [(_ok_jobs(results, chosen),)]
    columns, rows = titled[("table", "Per benchmark")]
    assert sorted(row[0] for row in rows) == sorted(chosen)


def test_job_detail_panels_return_rows_for_every_job(results):
    dashboard = DASHBOARDS["job-detail"]
    variables = _variables(dashboard)
    values = _all(results, dashboard)
    columns, jobs = results.query(_render(variables["job"]["query"], dashboard, values, "1s", None))
    assert columns == ["__value", "__text"]
    assert len(jobs) == 8  # 7 sample profiles of one user, one of the other
    with_values: dict[str, bool] = {}
    for table_name, _text in jobs:
        values["job"] = table_name
        for name in ("node", "step"):
            _, rows = results.query(
                _render(variables[name]["query"], dashboard, values, "1s", None)
            )
            values[name] = [row[0] for row in rows]
            assert values[name], f"{table_name}: no {name}"
        _, bounds = results.query(
            f"SELECT start_time, end_time FROM job_summary WHERE table_name = '{table_name}'"
        )
        start, end = bounds[0]
        # The range the overview's link opens: the job, a minute either side.
        span = grafana_sql.TimeRange(start - timedelta(minutes=1), end + timedelta(minutes=1))
        for panel, target in _targets(dashboard):
            sql = _render(target["rawSql"], dashboard, values, "1s", span)
            columns, rows = results.query(sql)
            _check_shape(panel, target, columns, rows)
            with_values[panel["title"]] = with_values.get(panel["title"], False) or _has_values(
                columns, rows
            )
    assert all(with_values.values()), [title for title, seen in with_values.items() if not seen]


def test_reader_sees_the_results_and_nothing_else(results):
    for table in ("job_summary", "job_step_node", "job_files", "job_5"):
        results.query(f"SELECT 1 FROM {table} LIMIT 1")
    for table in ("api_users", "ingest_events", "procrastinate_jobs"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            results.query(f"SELECT 1 FROM {table} LIMIT 1")


def test_reader_reads_job_tables_created_after_the_grants(results, tmp_path):
    """Default privileges: a worker's next job table is readable without re-running the SQL."""
    from analysis_module.app.runner import build_runner
    from analysis_module.settings import AnalysisSettings

    runner = build_runner(AnalysisSettings(**results.db.env()))
    try:
        outcome = runner.analyse_file(
            EXAMPLES / "job_5.h5", source="s3://benchmarks/user-0f0f0f/late.h5", owner="user-0f0f0f"
        )
    finally:
        runner.close()
    assert outcome.status == "ok"
    _, rows = results.query(f'SELECT count(*) FROM "{outcome.table_name}"')
    assert rows[0][0] > 0


def test_job_detail_picks_jobs_by_benchmark_and_shows_their_files(results):
    dashboard = DASHBOARDS["job-detail"]
    variables = _variables(dashboard)
    values = {"owner": list(OWNERS), "benchmark": ["stream"]}
    _, jobs = results.query(_render(variables["job"]["query"], dashboard, values, "1s", None))
    assert len(jobs) == 1 and jobs[0][1].endswith(" | stream")
    values["job"] = jobs[0][0]
    _panel, target = next((p, t) for p, t in _targets(dashboard) if p["title"] == "Files")
    columns, rows = results.query(_render(target["rawSql"], dashboard, values, "1s", None))
    files = [dict(zip(columns, row, strict=True)) for row in rows]
    assert [(f["file"], f["role"], f["status"]) for f in files] == [("job_4.h5", "merged", "ok")]
    assert files[0]["source"] == f"s3://benchmarks/{OWNERS[1]}/job_4.h5"
