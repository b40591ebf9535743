"""The end-of-job summary as a site's epilog or a user's dependent job runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.analysis.test_cli import run_cli

ROOT = Path(__file__).resolve().parents[2]


def job_end(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "MINIO_"))}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, str(ROOT / "analysis_module" / "job_end.py"), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _analyse(tmp_path: Path, examples_dir: Path) -> None:
    result = run_cli(
        "--source",
        str(examples_dir / "job_5.h5"),
        "--db",
        "out.duckdb",
        "--flat-price",
        "0.30",
        "--carbon-intensity",
        "400",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr


def test_prints_one_block_with_the_jobs_figures(tmp_path, examples_dir):
    _analyse(tmp_path, examples_dir)
    result = job_end("5", "--db", "out.duckdb", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Slurm job 5: ok"
    shown = dict(line.split(None, 1) for line in lines[1:])
    # 3200 J = 0.889 Wh; at 0.30 EUR/kWh that is 0.0267 cent; at 400 g/kWh 0.356 g
    assert shown["energy"].startswith("0.889 Wh, like ")
    assert shown["cost"] == "0.0267 euro cent"
    assert shown["CO2"] == "0.356 g"
    assert shown["coverage"] == "100.0% of node-time sampled"
    assert "average" in shown["power"] and "peak" in shown["power"]


def test_a_job_not_analysed_yet_exits_3_after_waiting(tmp_path, examples_dir):
    _analyse(tmp_path, examples_dir)
    result = job_end("6", "--db", "out.duckdb", "--wait", "0.2", cwd=tmp_path)
    assert result.returncode == 3
    assert result.stderr.strip() == "Slurm job 6: not analysed (yet)"


def test_waiting_returns_as_soon_as_the_analysis_lands(tmp_path, examples_dir, pg_fresh_db):
    """As from an epilog: the command starts before the job's files are analysed."""
    command = [sys.executable, str(ROOT / "analysis_module" / "job_end.py"), "5", "--wait", "100"]
    environment = {**os.environ, **pg_fresh_db.env()}
    waiting = subprocess.Popen(
        command, cwd=tmp_path, env=environment, stdout=subprocess.PIPE, text=True
    )
    try:
        analysed = run_cli(
            "--source", str(examples_dir / "job_5.h5"), cwd=tmp_path, env=pg_fresh_db.env()
        )
        assert analysed.returncode == 0, analysed.stderr
        out, _ = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    assert waiting.returncode == 0
    assert out.startswith("Slurm job 5: ok\n")


def test_mistakes_are_one_line_and_exit_2(tmp_path):
    missing = job_end("5", "--db", "nowhere.duckdb", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip() == "configuration error: --db: no results file at nowhere.duckdb"
    bad = job_end("5x", cwd=tmp_path)
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "not a Slurm job id" in bad.stderr
