"""GET /jobs/{id} shows a job's work and energy efficiency (docs/energy-metrics.md section 8),
read from job_summary rows inserted here as the analysis writes them."""

from __future__ import annotations

import pytest

from .analysis_tables import add_job, job_id_of

GFLOP = 67628.4780 * 100.1028 / 1000
ENERGY_J = 3600.0  # add_job's energy
COST_EUR = 0.12


@pytest.fixture
def db(pg_db):
    with pg_db.connect() as conn:
        yield conn


def _set_work(db, source: str) -> None:
    db.execute(
        """UPDATE job_summary SET work_source = 'likwid', work_group = 'FLOPS_DP',
               work_runtime_s = 100.1028, gflops = 67.628478, gflop = %s,
               energy_per_gflop_j = %s, gflops_per_w = %s, eur_per_gflop = %s
           WHERE source = %s""",
        (GFLOP, ENERGY_J / GFLOP, GFLOP / ENERGY_J, COST_EUR / GFLOP, source),
    )
    db.execute(
        """INSERT INTO job_files (job_source, file_source, file_name, role, etag, status,
               analysed_at)
           VALUES (%s, %s, 'mybench/job_5/flops_5.csv', 'likwid', 'e1', 'ok', now())""",
        (source, source.rsplit("/", 1)[0] + "/mybench/job_5/flops_5.csv"),
    )


def test_detail_shows_the_work_and_efficiency(client, account, db, api_bucket):
    ns = account.user["namespace"]
    source = add_job(db, bucket=api_bucket, namespace=ns, name="bench/job_5")
    _set_work(db, source)
    body = client.get(f"/jobs/{job_id_of(source)}", headers=account.headers).json()
    work = body["work"]
    assert (work["work_source"], work["work_group"], work["work_unit"]) == (
        "likwid",
        "FLOPS_DP",
        None,
    )
    assert work["gflop"] == pytest.approx(GFLOP)
    assert work["energy_per_gflop_j"] == pytest.approx(body["summary"]["energy_j"] / GFLOP)
    assert work["gflops_per_w"] == pytest.approx(GFLOP / body["summary"]["energy_j"])
    assert work["eur_per_gflop"] == pytest.approx(body["summary"]["cost_eur"] / GFLOP)
    assert body["n_files"] == 3  # profiles only
    likwid = [f for f in body["files"] if f["role"] == "likwid"]
    assert [(f["name"], f["status"]) for f in likwid] == [("mybench/job_5/flops_5.csv", "ok")]


def test_a_job_without_work_has_none(client, account, db, api_bucket):
    ns = account.user["namespace"]
    source = add_job(db, bucket=api_bucket, namespace=ns, name="plain/job_6")
    body = client.get(f"/jobs/{job_id_of(source)}", headers=account.headers).json()
    assert body["work"] is None and body["summary"]["energy_j"] == ENERGY_J
