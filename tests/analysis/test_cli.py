"""The batch CLI as users run it: `python analysis_module/duckdb_analysis.py ...`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.support.slurm_synth import write_legacy_file

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "MINIO_"))}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, str(ROOT / "analysis_module" / "duckdb_analysis.py"), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def read(db: Path, sql: str):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def bad_files(tmp_path, examples_dir) -> Path:
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "empty.h5").write_bytes(b"")
    (folder / "noise.h5").write_bytes(os.urandom(4096))
    (folder / "notes.h5").write_text("this is a text file\n")
    whole = (examples_dir / "job_5.h5").read_bytes()
    (folder / "truncated.h5").write_bytes(whole[: len(whole) // 2])
    write_legacy_file(folder / "legacy.h5")
    shutil.copy(examples_dir / "job_4.h5", folder / "job_4.h5")
    return folder


def test_analyses_a_folder_and_prints_a_table(tmp_path, examples_dir):
    result = run_cli("--source", str(examples_dir), "--db", "out.duckdb", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "job_5" in result.stdout and "3,200.0" in result.stdout
    # 7 files, 5 jobs: nodestep/5_{batch,0,1}_vm.h5 are one job, beside the merged job_5.h5
    # of another folder (another job)
    assert "5 analysed, 0 failed (7 files;" in result.stderr
    rows = read(
        tmp_path / "out.duckdb", "SELECT count(*), count(DISTINCT table_name) FROM job_summary"
    )
    assert rows == [(5, 5)]
    assert read(tmp_path / "out.duckdb", "SELECT count(*) FROM job_files") == [(7,)]


def test_json_output_one_object_per_source(tmp_path, examples_dir):
    result = run_cli(
        "-s",
        str(examples_dir / "job_5.h5"),
        "--db",
        "o.duckdb",
        "--json",
        "--integration",
        "left",
        "--flat-price",
        "0.30",
        "--carbon-intensity",
        "400",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["energy_j"] == 3150.0 and record["status"] == "ok"
    assert record["cost_eur"] == pytest.approx(3150 / 3.6e6 * 0.30)
    assert record["co2_g"] == pytest.approx(3150 / 3.6e6 * 400)
    assert record["table_name"] == "job_5" and record["job_id"] == "5"


def test_bad_files_fail_one_by_one_and_the_good_one_still_lands(tmp_path, bad_files):
    result = run_cli("-s", str(bad_files), "--db", "o.duckdb", "--json", cwd=tmp_path)
    assert result.returncode == 1
    records = {r["files"][0]["name"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert records["job_4.h5"]["status"] == "ok"
    assert records["job_4.h5"]["source"] == str(bad_files.resolve() / "job_4")
    reasons = {name: r["error"] for name, r in records.items() if r["status"] == "failed"}
    assert set(reasons) == {"empty.h5", "noise.h5", "notes.h5", "truncated.h5", "legacy.h5"}
    assert "empty" in reasons["empty.h5"]
    assert "not an HDF5 file" in reasons["noise.h5"]
    assert "truncated" in reasons["truncated.h5"]
    assert "15.08" in reasons["legacy.h5"] or "legacy" in reasons["legacy.h5"].lower()
    for name in reasons:  # one clear line per bad file, naming it
        assert sum(name in line for line in result.stderr.splitlines() if "FAILED" in line) == 1
    stored = read(
        tmp_path / "o.duckdb", "SELECT status, count(*) FROM job_summary GROUP BY 1 ORDER BY 1"
    )
    assert stored == [("failed", 5), ("ok", 1)]
    # Nothing was lost: every input file is still there, untouched.
    assert len(list(bad_files.iterdir())) == 6


def test_reanalysis_replaces_rows_and_same_stems_never_collide(tmp_path, examples_dir):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    shutil.copy(examples_dir / "job_5.h5", a / "job_5.h5")
    shutil.copy(examples_dir / "job_4.h5", b / "job_5.h5")  # same stem, other content
    for _ in range(2):
        result = run_cli("-s", str(a), "-s", str(b), "--db", "o.duckdb", "--json", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    rows = read(tmp_path / "o.duckdb", "SELECT source, table_name FROM job_summary ORDER BY source")
    assert [Path(s).parent.name for s, _ in rows] == ["a", "b"]
    names = [t for _, t in rows]
    assert names[0] == "job_5" and names[1].startswith("job_5_") and len(set(names)) == 2
    counts = [read(tmp_path / "o.duckdb", f"SELECT count(*) FROM {t}")[0][0] for t in names]
    assert counts[0] != counts[1]  # each table holds its own file's samples, once
    assert counts[0] == read(tmp_path / "o.duckdb", "SELECT count(*) FROM job_5")[0][0]
    assert read(tmp_path / "o.duckdb", "SELECT count(*) FROM job_step_node")[0][0] == 7 + 3


def test_missing_source_is_a_clear_usage_error(tmp_path):
    result = run_cli("-s", "nowhere", cwd=tmp_path)
    assert result.returncode == 2
    assert "no such file or folder: nowhere" in result.stderr


def test_module_form_runs_too(tmp_path, examples_dir):
    result = subprocess.run(
        [sys.executable, "-m", "analysis_module.duckdb_analysis", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "--fetch-price" in result.stdout


def test_jobs_per_commit_changes_when_results_land_never_what_they_are(tmp_path, examples_dir):
    stored = []
    for flag in ("1", "2", "50"):
        db = tmp_path / f"o{flag}.duckdb"
        args = ("-s", str(examples_dir), "--db", str(db), "--jobs-per-commit", flag, "--json")
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        told = [json.loads(line)["source"] for line in result.stdout.splitlines()]
        summary = read(db, "SELECT source, table_name, energy_j FROM job_summary ORDER BY 1")
        samples = read(db, "SELECT table_name, count(*), sum(power_w) FROM job_samples GROUP BY 1")
        stored.append((told, summary, sorted(samples)))
    assert len(stored[0][1]) == 5
    assert stored[0] == stored[1] == stored[2]
