"""The caller's results, read from the tables the analysis writes (rows inserted here)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from .analysis_tables import add_job, add_timeseries, job_id_of


@pytest.fixture
def db(pg_db):
    with pg_db.connect() as conn:
        yield conn


def _by_source(answer) -> dict[str, dict]:
    assert answer.status_code == 200, answer.text
    return {job["source"]: job for job in answer.json()["jobs"]}


def test_list_shows_own_jobs_one_entry_per_job(client, account, other_account, db, api_bucket):
    ns = account.user["namespace"]
    slurm = add_job(db, bucket=api_bucket, namespace=ns, name="run1/job_5", benchmark="hpl")
    single = add_job(db, bucket=api_bucket, namespace=ns, name="done.h5", energy_j=7200.0)
    queued = add_job(db, bucket=api_bucket, namespace=ns, name="run2/job_9", status="queued")
    pending = add_job(db, bucket=api_bucket, namespace=ns, name="run3/job_11", status="received")
    add_job(db, bucket=api_bucket, namespace=ns, name="gone.h5", status="removed")
    cli = add_job(db, bucket=api_bucket, namespace=ns, name="cli.h5", with_ingest=False)
    add_job(db, bucket=api_bucket, namespace=other_account.user["namespace"], name="theirs.h5")

    page = client.get("/jobs", headers=account.headers)
    by_source = _by_source(page)
    assert set(by_source) == {slurm, single, queued, pending, cli}  # removed left out
    assert page.json()["total"] == 5 and page.json()["next_cursor"] is None
    job = by_source[slurm]
    assert (job["status"], job["benchmark"], job["benchmark_set_by"]) == ("ok", "hpl", "upload")
    assert (job["n_files"], job["n_files_failed"], job["n_nodes"], job["n_steps"]) == (3, 0, 2, 1)
    assert job["key"] == f"{ns}/run1/job_5" and job["id"] == job_id_of(slurm)
    assert job["size_bytes"] == 3 * 1234 and job["received_at"] and job["job_id"] == "5"
    assert by_source[single]["energy_j"] == 7200.0
    assert by_source[single]["energy_kwh"] == pytest.approx(0.002)
    assert by_source[single]["cost_eur"] == 0.12 and by_source[single]["co2_g"] == 40.0
    assert by_source[single]["n_files"] == 1
    assert by_source[cli]["status"] == "ok" and by_source[cli]["size_bytes"] is None
    assert by_source[queued]["status"] == "queued" and by_source[queued]["n_files"] == 3
    assert by_source[queued]["energy_j"] is None and by_source[queued]["analysed_at"] is None
    assert by_source[pending]["status"] == "pending"


def test_an_analysed_job_is_listed_once_whatever_its_files_states(client, account, db, api_bucket):
    """A failed analysis leaves its files `failed`, a new upload of a file makes it `received`
    again: the job still has its analysis and is listed once, as analysed, not also waiting."""
    ns = account.user["namespace"]
    failed = add_job(db, bucket=api_bucket, namespace=ns, name="a/job_1", status="failed")
    again = add_job(db, bucket=api_bucket, namespace=ns, name="b/job_2")
    db.execute("UPDATE ingest_objects SET status = 'received' WHERE job_source = %s", (again,))
    waiting = add_job(db, bucket=api_bucket, namespace=ns, name="c/job_3", status="received")

    page = client.get("/jobs", headers=account.headers)
    jobs = page.json()["jobs"]
    assert sorted(job["source"] for job in jobs) == sorted([failed, again, waiting])
    assert page.json()["total"] == 3
    by_source = _by_source(page)
    assert by_source[failed]["status"] == "failed" and by_source[failed]["analysed_at"]
    assert by_source[again]["status"] == "ok" and by_source[waiting]["status"] == "pending"


def test_list_filters_by_benchmark_status_and_start_time(client, account, db, api_bucket):
    ns = account.user["namespace"]
    day = datetime(2026, 3, 1, tzinfo=UTC)
    hpl = add_job(
        db, bucket=api_bucket, namespace=ns, name="a/job_1", benchmark="hpl", start_time=day
    )
    later = add_job(
        db,
        bucket=api_bucket,
        namespace=ns,
        name="b/job_2",
        benchmark="hpl",
        start_time=day + timedelta(days=2),
    )
    stream = add_job(
        db, bucket=api_bucket, namespace=ns, name="c/job_3", benchmark="stream", start_time=day
    )
    failed = add_job(
        db,
        bucket=api_bucket,
        namespace=ns,
        name="d/job_4",
        status="failed",
        start_time=day + timedelta(days=5),
    )
    waiting = add_job(db, bucket=api_bucket, namespace=ns, name="e/job_5", status="received")

    def sources(**params):
        return set(_by_source(client.get("/jobs", params=params, headers=account.headers)))

    assert sources(benchmark="hpl") == {hpl, later}
    assert sources(benchmark="stream") == {stream}
    assert sources(benchmark="none-such") == set()
    assert sources(status="failed") == {failed}
    assert sources(status="pending") == {waiting}
    assert sources(status="ok") == {hpl, later, stream}
    assert sources(since="2026-03-01T00:00:00Z", until="2026-03-02") == {hpl, stream}
    assert sources(since="2026-03-02T12:00:00+01:00") == {later, failed}
    assert sources(benchmark="hpl", since="2026-03-02") == {later}
    answer = client.get("/jobs", params={"benchmark": "hpl"}, headers=account.headers)
    assert answer.json()["total"] == 2


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"since": "yesterday"}, 422, "since must be an ISO 8601 date-time"),
        ({"until": "2026-13-01"}, 422, "until must be an ISO 8601 date-time"),
        ({"benchmark": "a b"}, 400, "benchmark must be 1-128 characters"),
        ({"cursor": "bm90IGEgY3Vyc29y"}, 400, "cursor is not one GET /jobs returned"),
        ({"cursor": "!!"}, 400, "cursor is not one GET /jobs returned"),
        ({"offset": "2"}, 400, "page with cursor"),
    ],
)
def test_bad_listing_parameters_are_one_line(client, account, params, status, says):
    answer = client.get("/jobs", params=params, headers=account.headers)
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and says in detail


def _all_pages(client, account, limit: int, between=None) -> list[str]:
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        body = client.get("/jobs", params=params, headers=account.headers).json()
        assert len(body["jobs"]) <= limit
        seen += [job["source"] for job in body["jobs"]]
        cursor, pages = body["next_cursor"], pages + 1
        if cursor is None:
            return seen
        if between:
            between(pages)


def test_keyset_pages_neither_repeat_nor_skip_when_jobs_arrive(client, account, db, api_bucket):
    ns = account.user["namespace"]
    base = datetime(2026, 5, 1, 12, tzinfo=UTC)
    original = [
        add_job(
            db,
            bucket=api_bucket,
            namespace=ns,
            name=f"r{i}/job_{i}",
            # two pairs share a start time: the source breaks the tie
            start_time=base - timedelta(hours=i // 2 * 2),
        )
        for i in range(9)
    ]
    original.append(add_job(db, bucket=api_bucket, namespace=ns, name="w/job_99", status="queued"))
    unpaged = _all_pages(client, account, limit=100)
    assert sorted(unpaged) == sorted(original) and len(set(unpaged)) == len(unpaged)

    inserted = []

    def insert(page: int) -> None:
        # a newer job (before the cursor: not on later pages), an older one (after it: listed
        # once), one at an existing start time, and a job that starts waiting
        for name, start in (
            (f"new{page}/job_1", base + timedelta(days=1)),
            (f"old{page}/job_2", base - timedelta(days=30)),
            (f"tie{page}/job_3", base - timedelta(hours=4)),
        ):
            inserted.append(
                add_job(db, bucket=api_bucket, namespace=ns, name=name, start_time=start)
            )

    paged = _all_pages(client, account, limit=3, between=insert)
    assert len(set(paged)) == len(paged), "a job was listed twice"
    assert set(original) <= set(paged), "a job that was there all along was skipped"
    assert [s for s in paged if s in original] == unpaged  # same order
    assert {s for s in inserted if "/old" in s} <= set(paged)


def test_detail_of_a_slurm_job_lists_its_files(client, account, db, api_bucket):
    ns = account.user["namespace"]
    source = add_job(
        db,
        bucket=api_bucket,
        namespace=ns,
        name="runs/job_42",
        benchmark="hpl",
        files=["runs/42_0_n1.h5", "runs/42_0_n2.h5", "runs/broken_0_n3.h5"],
    )
    body = client.get(f"/jobs/{job_id_of(source)}", headers=account.headers).json()
    assert (body["status"], body["benchmark"], body["n_files"], body["n_files_failed"]) == (
        "ok",
        "hpl",
        3,
        1,
    )
    files = [(f["name"], f["role"], f["step"], f["node"], f["status"]) for f in body["files"]]
    assert files == [
        ("42_0_n1.h5", "node_step", "0", "n1", "ok"),
        ("42_0_n2.h5", "node_step", "0", "n2", "ok"),
        ("broken_0_n3.h5", "node_step", "0", "n3", "failed"),
    ]
    assert body["files"][2]["error"] == "not an HDF5 file"
    assert body["files"][0]["source"] == f"s3://{api_bucket}/{ns}/runs/42_0_n1.h5"
    assert [s["step"] for s in body["steps"]] == ["0"] and [n["node"] for n in body["nodes"]]


def test_detail_of_a_job_not_analysed_yet(client, account, db, api_bucket):
    ns = account.user["namespace"]
    source = add_job(db, bucket=api_bucket, namespace=ns, name="soon/job_8", status="received")
    body = client.get(f"/jobs/{job_id_of(source)}", headers=account.headers).json()
    assert body["status"] == "pending" and body["summary"] is None and body["n_files"] == 3
    assert [(f["name"], f["status"], f["role"]) for f in body["files"]] == [
        ("8_0_n1.h5", "received", None),
        ("8_0_n2.h5", "received", None),
        ("8_batch_n1.h5", "received", None),
    ]


def test_timeseries_json_csv_and_downsampling(client, account, db, api_bucket):
    # A Slurm job's files are one job; its table `job_<jobid>` holds every step and node.
    job = uuid.uuid4().int % 10**12
    table = f"job_{job}"
    source = add_job(
        db,
        bucket=api_bucket,
        namespace=account.user["namespace"],
        name=f"ts/job_{job}",
        table_name=table,
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
    "table",
    ['api_users"; DROP TABLE api_users; --', "api_users", "job_summary", "job_files", "JOB_X"],
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
