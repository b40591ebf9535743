"""A job's report page, as a researcher opens it: from our API, in a real browser."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.api.analysis_tables import job_id_of
from tests.conftest import EXAMPLES
from tests.support.browser import load_page

NODESTEP = EXAMPLES / "nodestep"


@pytest.fixture
def analysed_job(pg_db, api_bucket, account, tmp_path):
    """Job 5's three node-step files analysed into the API's database as the worker would:
    one job under the caller's namespace, with a flat price."""
    from analysis_module.app.runner import FactorOptions, FileInput, JobInput, build_runner
    from analysis_module.settings import AnalysisSettings

    namespace = account.user["namespace"]
    folder = f"s3://{api_bucket}/{namespace}/report-{tmp_path.name}"
    files = []
    for path in sorted(NODESTEP.glob("5_*.h5")):
        copy = tmp_path / path.name
        shutil.copy(path, copy)
        files.append(FileInput(copy, source=f"{folder}/{path.name}"))
    runner = build_runner(
        AnalysisSettings(**pg_db.env(), ENERGY_PLUGIN="pm_counters"),
        factor_options=FactorOptions(flat_price_eur_per_kwh=0.3),
    )
    try:
        outcome = runner.analyse_job(
            JobInput(f"{folder}/job_5", tuple(files), owner=namespace, benchmark="stream")
        )
    finally:
        runner.close()
    assert outcome.status == "ok", outcome.error
    return job_id_of(f"{folder}/job_5"), outcome


def test_the_report_page_shows_the_jobs_figures(client, account, analysed_job):
    job, outcome = analysed_job
    answer = client.get(f"/jobs/{job}/report", headers=account.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["referrer-policy"] == "no-referrer"
    page = answer.text
    assert "<title>Slurm job 5</title>" in page
    assert "0.875 Wh" in page  # 3150 J
    assert "stream" in page and "5_batch_vm.h5" in page
    assert outcome.summary["energy_j"] == 3150.0


def test_a_signed_link_opens_the_page_in_a_browser_with_one_series_per_node(
    client, account, analysed_job, api_server, tmp_path
):
    job, _ = analysed_job
    link = client.post(f"/jobs/{job}/report-link", headers=account.headers)
    assert link.status_code == 200, link.text
    url = link.json()["url"]
    assert url.startswith(api_server.base_url + "/reports/")
    loaded = load_page(url, tmp_path / "report.png")
    assert loaded.console == []
    power = loaded.dom.split('id="power-per-node"')[1].split("</svg>")[0]
    assert re.findall(r'data-label="([^"]+)"', power) == ["vm"]  # job 5 ran on one node
    assert "Energy per step" in loaded.dom
    assert loaded.screenshot.stat().st_size > 10_000


def test_reports_are_the_owners_and_links_cannot_be_forged(
    client, account, other_account, analysed_job, api_server
):
    job, _ = analysed_job
    assert client.get(f"/jobs/{job}/report", headers=other_account.headers).status_code == 404
    assert client.get(f"/jobs/{job}/report").status_code == 401
    url = client.post(f"/jobs/{job}/report-link", headers=account.headers).json()["url"]
    token = url.rsplit("/", 1)[1]
    payload, mac = token.split(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + mac
    for bad in (forged, payload + "." + mac[::-1], "nonsense", token + "x"):
        answer = client.get(f"/reports/{bad}")
        assert answer.status_code == 404, bad
    assert client.get(f"/reports/{token}").status_code == 200
    log = api_server.output()
    assert "GET /reports/<token>" in log and payload not in log  # the access log hides it


def test_links_expire_and_name_one_job():
    from api_backend.core.config import Settings
    from api_backend.core.errors import NotFound
    from api_backend.jobs.report import open_link, sign_link

    settings = Settings(REPORT_LINK_TTL_S=3600)
    token, expires = sign_link(settings, "s3://b/u/job_5", "u", now=1_000_000)
    assert expires == 1_003_600
    assert open_link(settings, token, now=1_003_599) == ("s3://b/u/job_5", "u")
    with pytest.raises(NotFound):
        open_link(settings, token, now=1_003_601)
    other_key = Settings(REPORT_LINK_TTL_S=3600, BUCKET_TOKEN_SECRET="x" * 40)
    with pytest.raises(NotFound):
        open_link(other_key, token, now=1_000_001)


def test_the_end_of_job_summary_reads_the_job_through_the_api(
    client, account, analysed_job, api_server
):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    listed = client.get("/jobs", params={"job_id": "5"}, headers=account.headers).json()
    assert [j["job_id"] for j in listed["jobs"]] == ["5"]
    assert client.get("/jobs", params={"job_id": "x"}, headers=account.headers).status_code == 422
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "MINIO_"))} | {
        "BENCHSUITE_TOKEN": account.access
    }
    command = [sys.executable, str(ROOT / "analysis_module" / "job_end.py"), "5"]
    result = subprocess.run(
        [*command, "--api", api_server.base_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Slurm job 5 (stream): ok"
    shown = dict(line.split(None, 1) for line in lines[1:])
    assert shown["energy"].startswith("0.875 Wh")
    assert shown["report"].startswith(api_server.base_url + "/reports/")
    assert client.get(shown["report"].removeprefix(api_server.base_url)).status_code == 200
    refused = subprocess.run(
        [*command, "--api", api_server.base_url],
        env=env | {"BENCHSUITE_TOKEN": "not-a-token"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "BENCHSUITE_TOKEN: the API refused the access token" in refused.stderr
