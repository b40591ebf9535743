"""`--report DIR`: the batch CLI writes each job's report page beside its results."""

from __future__ import annotations

import re

from tests.analysis.test_cli import run_cli


def test_each_job_gets_its_page(tmp_path, examples_dir):
    result = run_cli(
        "--source",
        str(examples_dir / "nodestep"),
        "--db",
        "out.duckdb",
        "--report",
        "pages",
        "--flat-price",
        "0.3",
        cwd=tmp_path,
        env={"ENERGY_PLUGIN": "pm_counters"},
    )
    assert result.returncode == 0, result.stderr
    pages = sorted(p.name for p in (tmp_path / "pages").iterdir())
    assert pages == ["job_4.html", "job_5.html"]  # job 5's three node-step files: one page
    page = (tmp_path / "pages" / "job_5.html").read_text()
    assert "<title>Slurm job 5</title>" in page
    assert "0.875 Wh" in page  # 3150 J
    power = page.split('id="power-per-node"')[1].split("</svg>")[0]
    assert re.findall(r'data-label="([^"]+)"', power) == ["vm"]
    assert all(name in page for name in ("5_batch_vm.h5", "5_0_vm.h5", "5_1_vm.h5"))


def test_an_unwritable_report_folder_is_one_line_and_nothing_is_analysed(tmp_path, examples_dir):
    (tmp_path / "taken").write_text("a file, not a folder")
    result = run_cli(
        "--source", str(examples_dir), "--db", "out.duckdb", "--report", "taken", cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: --report: cannot write report files")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.duckdb").exists()
