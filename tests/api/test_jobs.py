"""The caller's results, read from the tables the analysis writes (rows inserted here)."""

from __future__ import annotations

import csv
import io
import uuid

import pytest

from .analysis_tables import add_job, add_timeseries, job_id_of


@pytest.fixture
def db(pg_db):
    with pg_db.connect() as conn:
        yield conn


def test_list_shows_own_jobs_with_status_and_headline(
    client, account, other_account, db, api_bucket
):
    ns = account.user["namespace"]
    done = add_job(db, bucket=api_bucket, namespace=ns, name="done.h5", energy_j=7200.0)
    add_job(db, bucket=api_bucket, namespace=ns, name="waiting.h5", status="queued")
    add_job(db, bucket=api_bucket, namespace=ns, name="gone.h5", status="removed")
    cli = add_job(db, bucket=api_bucket, namespace=ns, name="cli.h5", with_ingest=False)
    add_job(db, bucket=api_bucket, namespace=other_account.user["namespace"], name="theirs.h5")

    page = client.get("/jobs", headers=account.headers)
    assert page.status_code == 200, page.text
    body = page.json()
    by_source = {job["source"]: job for job in body["jobs"]}
    assert body["total"] == 3 and len(by_source) == 3  # removed left out, theirs invisible
    assert by_source[done]["status"] == "ok"
    assert by_source[done]["energy_j"] == 7200.0
    assert by_source[done]["energy_kwh"] == pytest.approx(0.002)
    assert by_source[done]["avg_power_w"] == 60.0
    assert by_source[done]["cost_eur"] == 0.12 and by_source[done]["co2_g"] == 40.0
    assert by_source[done]["key"] == f"{ns}/done.h5"
    assert by_source[done]["id"] == job_id_of(done)
    assert by_source[cli]["status"] == "ok" and by_source[cli]["key"] is None
    waiting = [j for j in body["jobs"] if j["status"] == "queued"]
    assert len(waiting) == 1 and waiting[0]["energy_j"] is None

    removed = client.get("/jobs", params={"status": "removed"}, headers=account.headers).json()
    assert [j["key"] for j in removed["jobs"]] == [f"{ns}/gone.h5"]
    first = client.get("/jobs", params={"limit": 2}, headers=account.headers).json()
    rest = client.get("/jobs", params={"limit": 2, "offset": 2}, headers=account.headers).json()
    assert len(first["jobs"]) == 2 and len(rest["jobs"]) == 1 and first["total"] == 3
    assert {j["id"] for j in first["jobs"] + rest["jobs"]} == {j["id"] for j in body["jobs"]}


def test_detail_has_summary_steps_and_nodes(client, account, db, api_bucket):
    table = f"job_t{uuid.uuid4().hex[:12]}"
    source = add_job(
        db, bucket=api_bucket, namespace=account.user["namespace"], name="d.h5", table_name=table
    )
    add_timeseries(db, table)
    detail = client.get(f"/jobs/{job_id_of(source)}", headers=account.headers)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["status"] == "ok" and body["job_id"] == "5" and body["has_timeseries"]
    assert body["summary"]["energy_j"] == 3600.0
    assert body["summary"]["component_energy_j"] == {"gpu": 100.0}
    assert [(s["step"], s["energy_j"]) for s in body["steps"]] == [("0", 100.0)]
    assert [(n["node"], n["avg_power_w"]) for n in body["nodes"]] == [("n1", 50.0)]
    assert [(x["step"], x["node"]) for x in body["step_nodes"]] == [("0", "n1")]


def test_timeseries_json_csv_and_downsampling(client, account, db, api_bucket):
    table = f"job_t{uuid.uuid4().hex[:12]}"
    source = add_job(
        db, bucket=api_bucket, namespace=account.user["namespace"], name="t.h5", table_name=table
    )
    add_timeseries(db, table, samples=10)
    url = f"/jobs/{job_id_of(source)}/timeseries"

    full = client.get(url, headers=account.headers).json()
    assert full["downsampled"] is False and len(full["rows"]) == 20
    columns = full["columns"]
    assert columns[:4] == ["step", "node", "time", "epoch_s"] and "gpu_mem_mib" in columns

    # 10 one-second samples into at most 5 buckets of 2 s: power averaged, energy and
    # memory maxima, the bucket's first time.
    down = client.get(url, params={"max_points": 5, "node": "n1"}, headers=account.headers).json()
    rows = [dict(zip(down["columns"], row, strict=True)) for row in down["rows"]]
    assert [r["epoch_s"] - 1_700_000_000 for r in rows] == [0, 2, 4, 6, 8]
    assert [r["power_w"] for r in rows] == [5.0, 25.0, 45.0, 65.0, 85.0]
    assert [r["energy_j"] for r in rows] == [100.0, 300.0, 500.0, 700.0, 900.0]
    assert [r["rss_mib"] for r in rows] == [1.0, 2.0, 2.0, 1.0, 2.0]
    assert rows[0]["time"].startswith("2023-11-14T22:13:20")
    three = client.get(url, params={"max_points": 3}, headers=account.headers).json()
    assert len(three["rows"]) == 6  # 3 per node

    as_csv = client.get(url, params={"format": "csv", "max_points": 5}, headers=account.headers)
    assert as_csv.headers["content-type"].startswith("text/csv")
    table_rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert table_rows[0] == columns and len(table_rows) == 11
    assert float(table_rows[1][columns.index("power_w")]) == 5.0


def test_other_users_jobs_are_not_found(client, account, other_account, db, api_bucket):
    table = f"job_t{uuid.uuid4().hex[:12]}"
    source = add_job(
        db, bucket=api_bucket, namespace=account.user["namespace"], name="p.h5", table_name=table
    )
    add_timeseries(db, table)
    for path in (f"/jobs/{job_id_of(source)}", f"/jobs/{job_id_of(source)}/timeseries"):
        assert client.get(path, headers=account.headers).status_code == 200
        theirs = client.get(path, headers=other_account.headers)
        never = client.get(
            path.replace(job_id_of(source), job_id_of(source + "-missing")),
            headers=other_account.headers,
        )
        assert (theirs.status_code, theirs.json()) == (never.status_code, never.json())
        assert theirs.status_code == 404


@pytest.mark.parametrize("job", ["!!!", "a" * 3000, "Zm9v", "_-_-", "%00"])
def test_malformed_job_ids_are_not_found(client, account, job):
    answer = client.get(f"/jobs/{job}", headers=account.headers)
    assert answer.status_code in (404, 422)


def test_job_without_time_series(client, account, db, api_bucket):
    source = add_job(db, bucket=api_bucket, namespace=account.user["namespace"], name="n.h5")
    assert (
        client.get(f"/jobs/{job_id_of(source)}", headers=account.headers).json()["has_timeseries"]
        is False
    )
    answer = client.get(f"/jobs/{job_id_of(source)}/timeseries", headers=account.headers)
    assert answer.status_code == 404


@pytest.mark.parametrize(
    "table", ['api_users"; DROP TABLE api_users; --', "api_users", "job_summary", "JOB_X"]
)
def test_unexpected_table_names_in_summary_are_never_queried(
    client, account, db, api_bucket, table
):
    source = add_job(
        db,
        bucket=api_bucket,
        namespace=account.user["namespace"],
        name=f"evil-{uuid.uuid4().hex[:6]}.h5",
        table_name=table,
    )
    answer = client.get(f"/jobs/{job_id_of(source)}/timeseries", headers=account.headers)
    assert answer.status_code == 404
    assert (
        client.get(f"/jobs/{job_id_of(source)}", headers=account.headers).json()["has_timeseries"]
        is False
    )
    assert db.execute("SELECT count(*) FROM api_users").fetchone()[0] > 0
