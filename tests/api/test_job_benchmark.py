"""PATCH /jobs/{id}: the owner names (or clears) a job's benchmark; everyone else sees 404."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.servers import AppProcess

from .analysis_tables import add_job, job_id_of
from .conftest import API_UVICORN_ARGS, api_env, register


@pytest.fixture(scope="module")
def audited_server(pg_db, s3_endpoint, api_bucket):
    """The API with INFO logs, to read its audit lines."""
    env = api_env(pg_db, s3_endpoint, api_bucket, LOG_LEVEL="INFO")
    with AppProcess("api_backend.main:app", env, extra_args=API_UVICORN_ARGS) as server:
        yield server


@pytest.fixture
def http(audited_server):
    with httpx.Client(base_url=audited_server.base_url, timeout=30.0) as client:
        yield client


@pytest.fixture
def db(pg_db):
    with pg_db.connect() as conn:
        yield conn


def _stored(db, source: str) -> tuple:
    return db.execute(
        "SELECT benchmark, benchmark_set_by FROM job_summary WHERE source = %s", (source,)
    ).fetchone()


def _audit_lines(server, source: str) -> list[dict]:
    lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    return [
        line
        for line in lines
        if line.get("event") == "job_benchmark_set" and line.get("job") == source
    ]


def test_owner_names_and_clears_the_benchmark(http, audited_server, db, api_bucket):
    owner = register(http)
    source = add_job(
        db,
        bucket=api_bucket,
        namespace=owner.user["namespace"],
        name="runs/job_12",
        benchmark="from-upload",
    )
    url = f"/jobs/{job_id_of(source)}"

    named = http.patch(url, json={"benchmark": "hpl-2026"}, headers=owner.headers)
    assert named.status_code == 200, named.text
    assert (named.json()["benchmark"], named.json()["benchmark_set_by"]) == ("hpl-2026", "owner")
    assert _stored(db, source) == ("hpl-2026", "owner")
    listed = http.get("/jobs", params={"benchmark": "hpl-2026"}, headers=owner.headers).json()
    assert [job["source"] for job in listed["jobs"]] == [source]

    cleared = http.patch(url, json={"benchmark": None}, headers=owner.headers)
    assert cleared.status_code == 200 and cleared.json()["benchmark"] is None
    assert _stored(db, source) == (None, "owner")  # cleared on purpose: kept on re-analysis

    audit = _audit_lines(audited_server, source)
    assert [(a["benchmark"], a["previous"]) for a in audit] == [
        ("hpl-2026", "from-upload"),
        (None, "hpl-2026"),
    ]
    assert all(a["namespace"] == owner.user["namespace"] for a in audit)
    assert owner.access not in audited_server.output()


def test_other_users_get_404_as_for_reading(http, db, api_bucket):
    owner, other = register(http), register(http)
    source = add_job(
        db, bucket=api_bucket, namespace=owner.user["namespace"], name="x/job_3", benchmark="a"
    )
    theirs = http.patch(
        f"/jobs/{job_id_of(source)}", json={"benchmark": "stolen"}, headers=other.headers
    )
    missing = http.patch(
        f"/jobs/{job_id_of(source + '-missing')}", json={"benchmark": "b"}, headers=other.headers
    )
    assert theirs.status_code == 404 and theirs.json() == missing.json()
    assert _stored(db, source) == ("a", "upload")


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"benchmark": "a b"}, 400, "benchmark must be 1-128 characters"),
        ({"benchmark": "x" * 129}, 400, "benchmark must be 1-128 characters"),
        ({"benchmark": ""}, 400, "benchmark must be 1-128 characters"),
    ],
)
def test_a_bad_name_is_one_line_and_changes_nothing(http, db, api_bucket, body, status, says):
    owner = register(http)
    source = add_job(db, bucket=api_bucket, namespace=owner.user["namespace"], name="y/job_4")
    answer = http.patch(f"/jobs/{job_id_of(source)}", json=body, headers=owner.headers)
    assert answer.status_code == status, answer.text
    assert says in answer.json()["detail"] and "\n" not in answer.json()["detail"]
    assert _stored(db, source) == (None, None)


@pytest.mark.parametrize("body", [{}, {"benchmark": "a", "owner": "x"}, {"benchmark": 5}, "hpl"])
def test_a_malformed_body_is_refused(http, db, api_bucket, body):
    owner = register(http)
    source = add_job(db, bucket=api_bucket, namespace=owner.user["namespace"], name="z/job_5")
    answer = http.patch(f"/jobs/{job_id_of(source)}", json=body, headers=owner.headers)
    assert answer.status_code == 422, answer.text
    assert _stored(db, source) == (None, None)


def test_a_job_not_analysed_yet_is_a_conflict(http, db, api_bucket):
    owner = register(http)
    source = add_job(
        db, bucket=api_bucket, namespace=owner.user["namespace"], name="w/job_6", status="queued"
    )
    answer = http.patch(
        f"/jobs/{job_id_of(source)}", json={"benchmark": "hpl"}, headers=owner.headers
    )
    assert answer.status_code == 409 and answer.json()["code"] == "not_analysed"
