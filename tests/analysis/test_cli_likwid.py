"""LIKWID output beside a job's node-step files, and `--work`, in the batch CLI
(docs/jobs.md, docs/energy-metrics.md section 8)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.analysis.test_cli import read, run_cli

LIKWID = Path(__file__).resolve().parents[1] / "data" / "likwid" / "flops_dp_1thread.csv"
DP_MFLOPS, RUNTIME_S = 67628.4780, 100.1028  # the file's `DP [MFLOP/s]` and `Runtime (RDTSC)`
FLAT_PRICE = 0.30  # EUR/kWh


def job_5_folder(root: Path, examples_dir: Path, csv: bytes | None = None) -> Path:
    """The origin's layout: `<root>/5_*.h5` and `<root>/mybench/job_5/flops_5.csv`."""
    root.mkdir(parents=True)
    for item in sorted((examples_dir / "nodestep").glob("5_*.h5")):
        shutil.copy(item, root / item.name)
    (root / "mybench" / "job_5").mkdir(parents=True)
    (root / "mybench" / "job_5" / "flops_5.csv").write_bytes(
        LIKWID.read_bytes() if csv is None else csv
    )
    (root / "prices_2024.csv").write_text("start,price_eur_per_mwh\n")  # not LIKWID: ignored
    return root


def job_record(result) -> dict:
    records = [json.loads(line) for line in result.stdout.splitlines()]
    (record,) = [r for r in records if r["job_id"] == "5"]
    return record


def analyse(tmp_path: Path, folder: Path, *extra: str):
    return run_cli(
        "-s", str(folder), "--db", "o.duckdb", "--flat-price", str(FLAT_PRICE), *extra,
        cwd=tmp_path,
    )  # fmt: skip


def test_likwid_beside_job_5_gives_its_flop_and_efficiency(tmp_path, examples_dir):
    folder = job_5_folder(tmp_path / "alice", examples_dir)
    result = analyse(tmp_path, folder, "--json")
    assert result.returncode == 0, result.stderr
    record = job_record(result)
    gflop = DP_MFLOPS * RUNTIME_S / 1000
    energy_j, cost = record["energy_j"], record["cost_eur"]
    assert energy_j > 0 and cost == pytest.approx(energy_j / 3.6e6 * FLAT_PRICE)
    assert record["work_source"] == "likwid" and record["work_group"] == "FLOPS_DP"
    assert record["gflops"] == pytest.approx(DP_MFLOPS / 1000)
    assert record["gflop"] == pytest.approx(gflop)
    assert record["work_runtime_s"] == pytest.approx(RUNTIME_S)
    assert record["energy_per_gflop_j"] == pytest.approx(energy_j / gflop)
    assert record["gflops_per_w"] == pytest.approx(gflop / energy_j)
    assert record["eur_per_gflop"] == pytest.approx(cost / gflop)
    assert record["work_note"] is None
    assert (record["n_files"], record["n_files_failed"]) == (3, 0)  # profiles only
    likwid = [f for f in record["files"] if f["role"] == "likwid"]
    assert likwid == [
        {"name": "mybench/job_5/flops_5.csv", "role": "likwid", "status": "ok", "error": None}
    ]
    stored = read(
        tmp_path / "o.duckdb",
        "SELECT gflop, gflops_per_w FROM job_summary WHERE job_id = '5'",
    )
    assert stored == [(pytest.approx(gflop), pytest.approx(gflop / energy_j))]
    roles = read(
        tmp_path / "o.duckdb", "SELECT role, count(*) FROM job_files GROUP BY 1 ORDER BY 1"
    )
    assert roles == [("likwid", 1), ("node_step", 3)]


def test_the_table_shows_the_work_under_the_job_in_80_columns(tmp_path, examples_dir):
    folder = job_5_folder(tmp_path / "alice", examples_dir)
    result = analyse(tmp_path, folder)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    row = next(i for i, line in enumerate(lines) if line.startswith("job_5 "))
    assert lines[row + 1].startswith("    GFLOP/s 67.63, ")
    assert " GFLOP/s per W, " in lines[row + 1]


def test_garbled_likwid_file_is_named_and_leaves_the_energy_alone(tmp_path, examples_dir):
    good = analyse(tmp_path, job_5_folder(tmp_path / "good", examples_dir), "--json")
    folder = job_5_folder(tmp_path / "bad", examples_dir, csv=b"\x00\x01 not a likwid file\n")
    result = run_cli("-s", str(folder), "--db", "b.duckdb", "--flat-price", "0.3", "--json",
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1  # a file was left out
    record, before = job_record(result), job_record(good)
    assert record["status"] == "ok"
    assert record["energy_j"] == before["energy_j"] and record["cost_eur"] == before["cost_eur"]
    assert record["gflop"] is None and record["gflops_per_w"] is None
    (failed,) = [f for f in record["files"] if f["status"] == "failed"]
    assert failed["name"] == "mybench/job_5/flops_5.csv" and failed["role"] == "likwid"
    assert record["work_note"] == f"mybench/job_5/flops_5.csv: {failed['error']}"
    assert failed["error"].startswith("not likwid-perfctr CSV output: ")
    assert f"FAILED mybench/job_5/flops_5.csv: {failed['error']}" in result.stderr.splitlines()
    assert (record["n_files"], record["n_files_failed"]) == (3, 0)


def test_work_flag_gives_the_figure_of_merit(tmp_path, examples_dir):
    folder = tmp_path / "plain"
    folder.mkdir()
    for item in sorted((examples_dir / "nodestep").glob("5_*.h5")):
        shutil.copy(item, folder / item.name)
    result = analyse(tmp_path, folder, "--json", "--work", "GFLOP/s=100")
    assert result.returncode == 0, result.stderr
    record = job_record(result)
    tts, energy_j = record["time_to_solution_s"], record["energy_j"]
    assert (record["work_source"], record["work_unit"], record["work_value"]) == (
        "given",
        "GFLOP/s",
        100.0,
    )
    assert record["gflop"] == pytest.approx(100 * tts)
    assert record["gflops_per_w"] == pytest.approx(100 * tts / energy_j)


def test_work_flag_beside_likwid_keeps_the_measured_flop(tmp_path, examples_dir):
    folder = job_5_folder(tmp_path / "alice", examples_dir)
    result = analyse(tmp_path, folder, "--json", "--work", "GB/s=180")
    assert result.returncode == 0, result.stderr
    record = job_record(result)
    assert (record["work_unit"], record["work_value"]) == ("GB/s", 180.0)
    assert record["gflop"] == pytest.approx(DP_MFLOPS * RUNTIME_S / 1000)


@pytest.mark.parametrize("spec", ["GFLOP/s", "GFLOP/s=fast", "=3", "GFLOP/s=-1"])
def test_bad_work_flag_is_one_line_exit_2(tmp_path, examples_dir, spec):
    result = run_cli("-s", str(examples_dir / "nodestep"), "--db", "o.duckdb", "--work", spec,
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("configuration error: --work: work ")
    assert not (tmp_path / "o.duckdb").exists()


def test_retry_failed_takes_a_job_whose_likwid_file_was_garbled(tmp_path, examples_dir):
    """The energy landed, but the work figures did not: once the file is replaced,
    `--retry-failed` analyses the job again and the figures appear."""
    folder = job_5_folder(tmp_path / "run", examples_dir, csv=b"\x00\x01 not a likwid file\n")
    assert analyse(tmp_path, folder, "--json").returncode == 1
    (folder / "mybench" / "job_5" / "flops_5.csv").write_bytes(LIKWID.read_bytes())
    result = analyse(tmp_path, folder, "--retry-failed", "--json")
    assert result.returncode == 0, result.stderr
    record = job_record(result)
    assert record["gflop"] == pytest.approx(DP_MFLOPS / 1000 * RUNTIME_S, rel=1e-6)
    assert all(f["status"] == "ok" for f in record["files"])
