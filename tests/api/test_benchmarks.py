"""/benchmarks over job_summary rows inserted with SQL (tests/support/benchmark_runs.py holds
the runs and their hand-computed best and median figures)."""

from __future__ import annotations

import csv
import io

import pytest

from tests.support.benchmark_runs import FORMULA_NOTE, insert, runs

from .analysis_tables import job_id_of


@pytest.fixture
def hpl(pg_db, account, other_account):
    """The runs of `account` (and one of `other_account`); returns the job id of each run."""
    rows = runs(account.user["namespace"], other_account.user["namespace"])
    with pg_db.connect() as conn:
        insert(conn, rows, "%s")
    return {row["job_id"]: job_id_of(row["source"]) for row in rows}


def _runs(client, account, name="hpl", **params):
    answer = client.get(f"/benchmarks/{name}/runs", params=params, headers=account.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_list_has_runs_best_and_median(client, account, hpl):
    answer = client.get("/benchmarks", headers=account.headers)
    assert answer.status_code == 200, answer.text
    listed = answer.json()["benchmarks"]
    assert [b["name"] for b in listed] == ["hpl", "stream"]
    bench = listed[0]
    assert bench["runs"] == 4  # c and d have no work, d no energy: runs all the same
    assert bench["last_run"].startswith("2026-03-04T10:00:00")
    expected = {
        "energy_j": (800.0, 1000.0, "b", 3),
        "time_to_solution_s": (80.0, 95.0, "c", 4),
        "edp_js": (96000.0, 96000.0, "b", 3),  # b and c tie; b started first
        "gflops_per_w": (3.0, 2.5, "b", 2),
        "energy_per_gflop_j": (1 / 3, 5 / 12, "b", 2),
    }
    for figure, (best, median, run, count) in expected.items():
        stats = bench[figure]
        assert stats["best"] == pytest.approx(best), figure
        assert stats["median"] == pytest.approx(median), figure
        assert (stats["best_run"], stats["count"]) == (hpl[run], count), figure
    stream = listed[1]
    assert stream["runs"] == 1 and stream["energy_j"]["median"] == 500.0
    assert stream["gflops_per_w"] == {"best": None, "median": None, "best_run": None, "count": 0}


def test_runs_side_by_side_with_job_ids(client, account, hpl):
    page = _runs(client, account)
    assert (page["benchmark"], page["total"], page["sort"], page["order"]) == (
        "hpl",
        4,
        "start_time",
        "desc",
    )
    assert [run["id"] for run in page["runs"]] == [hpl[r] for r in "dcba"]
    b = next(run for run in page["runs"] if run["job_id"] == "b")
    assert (b["n_nodes"], b["energy_j"], b["edp_js"], b["gflop"]) == (2, 800.0, 96000.0, 2400.0)
    assert (b["work_source"], b["work_group"], b["gflops_per_w"]) == ("likwid", "FLOPS_DP", 3.0)
    assert b["cost_eur"] == 0.08 and b["co2_g"] == 40.0
    detail = client.get(f"/jobs/{b['id']}", headers=account.headers)
    assert detail.status_code == 200 and detail.json()["source"] == b["source"]


@pytest.mark.parametrize(
    ("params", "order"),
    [
        ({"sort": "energy_j"}, "bacd"),  # best first, the run without energy last
        ({"sort": "energy_j", "order": "desc"}, "cabd"),  # nulls stay last
        ({"sort": "time_to_solution_s"}, "cdab"),
        ({"sort": "edp_js"}, "bcad"),  # b and c tie: by source
        ({"sort": "gflops_per_w"}, "bacd"),  # highest first; c and d have none
        ({"sort": "start_time", "order": "asc"}, "abcd"),
    ],
)
def test_runs_sort_by_a_column(client, account, hpl, params, order):
    page = _runs(client, account, **params)
    assert [run["job_id"] for run in page["runs"]] == list(order)


def test_runs_are_paged_by_limit_and_offset(client, account, hpl):
    first = _runs(client, account, sort="energy_j", limit=3)
    rest = _runs(client, account, sort="energy_j", limit=3, offset=3)
    past = _runs(client, account, sort="energy_j", limit=3, offset=10)
    assert [r["job_id"] for r in first["runs"]] == ["b", "a", "c"]
    assert [r["job_id"] for r in rest["runs"]] == ["d"]
    assert past["runs"] == [] and past["total"] == first["total"] == 4


def test_runs_as_csv(client, account, hpl):
    answer = client.get(
        "/benchmarks/hpl/runs",
        params={"format": "csv", "sort": "energy_j", "limit": 3},
        headers=account.headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["x-total-count"] == "4"
    assert 'filename="hpl-runs.csv"' in answer.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(answer.text)))
    assert [row["job_id"] for row in table] == ["b", "a", "c"]
    header = answer.text.splitlines()[0].split(",")
    assert header[:4] == ["id", "source", "job_id", "start_time"] and "gflops_per_w" in header
    assert table[0]["id"] == hpl["b"] and float(table[0]["energy_j"]) == 800.0
    assert table[0]["start_time"].startswith("2026-03-02T10:00:00")
    assert table[1]["work_unit"] == "GFLOP/s" and table[2]["gflops_per_w"] == ""
    assert table[2]["work_note"] == "'" + FORMULA_NOTE  # a spreadsheet shows it as text


def test_other_users_runs_never_appear(client, account, other_account, hpl):
    theirs = client.get("/benchmarks", headers=other_account.headers).json()["benchmarks"]
    assert [(b["name"], b["runs"]) for b in theirs] == [("hpl", 1)]
    assert theirs[0]["energy_j"]["best_run"] == hpl["theirs"]
    page = _runs(client, other_account)
    assert [run["job_id"] for run in page["runs"]] == ["theirs"]
    mine = _runs(client, account)
    assert "theirs" not in {run["job_id"] for run in mine["runs"]}
    # Our `stream` is a benchmark they don't have: the same 404 as one nobody has.
    stream = client.get("/benchmarks/stream/runs", headers=other_account.headers)
    never = client.get("/benchmarks/never-run/runs", headers=other_account.headers)
    assert stream.status_code == never.status_code == 404
    assert stream.json() == never.json()


def test_a_user_without_benchmarks_has_an_empty_list(client, account):
    answer = client.get("/benchmarks", headers=account.headers)
    assert answer.status_code == 200 and answer.json() == {"benchmarks": []}


def test_unknown_benchmark_is_not_found(client, account, hpl):
    answer = client.get("/benchmarks/unknown/runs", headers=account.headers)
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("x" * 129, {}),
        ("bad name", {}),
        ("semi;colon", {}),
        ("hpl", {"sort": "n_nodes"}),  # not a sortable column
        ("hpl", {"sort": "energy_j; DROP TABLE job_summary"}),
        ("hpl", {"order": "up"}),
        ("hpl", {"limit": 0}),
        ("hpl", {"limit": 1001}),
        ("hpl", {"offset": -1}),
        ("hpl", {"format": "xlsx"}),
    ],
)
def test_bad_names_and_parameters_are_refused(client, account, hpl, name, params):
    answer = client.get(f"/benchmarks/{name}/runs", params=params, headers=account.headers)
    assert answer.status_code == 422, answer.text


def test_longest_name_is_accepted(client, account):
    answer = client.get(f"/benchmarks/{'x' * 128}/runs", headers=account.headers)
    assert answer.status_code == 404  # valid, just never run


def test_benchmarks_need_a_login(client):
    assert client.get("/benchmarks").status_code == 401
    assert client.get("/benchmarks/hpl/runs").status_code == 401


def test_not_a_number_is_no_figure(client, account, pg_db):
    ns = account.user["namespace"]
    rows = [row for row in runs(ns, "nobody") if row["job_id"] in ("a", "b")]
    rows[0].update(energy_j=float("nan"), edp_js=float("inf"))
    with pg_db.connect() as conn:
        insert(conn, rows, "%s")
    bench = client.get("/benchmarks", headers=account.headers).json()["benchmarks"][0]
    assert (bench["runs"], bench["energy_j"]["count"], bench["energy_j"]["median"]) == (2, 1, 800.0)
    assert bench["edp_js"]["best"] == 96000.0 and bench["edp_js"]["count"] == 1
    page = _runs(client, account, sort="energy_j")
    assert [(r["job_id"], r["energy_j"]) for r in page["runs"]] == [("b", 800.0), ("a", None)]


def test_run_columns_are_job_summary_columns():
    """The columns /benchmarks selects exist in the analysis' job_summary layout (read as text,
    as tests/test_results_contract.py reads it)."""
    from api_backend.benchmarks.repository import FLOAT_COLUMNS, RUN_COLUMNS, STATS
    from tests.test_results_contract import analysis_columns

    summary = analysis_columns()["JOB_SUMMARY"]
    assert set(RUN_COLUMNS) | {"benchmark", "owner", "status"} <= set(summary)
    assert set(STATS) | FLOAT_COLUMNS <= set(RUN_COLUMNS)
