"""What the batch CLI shows: the rule the energy plugin implies; a table readable at 80 columns."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from analysis_module.settings import AnalysisSettings
from tests.analysis.test_cli import ROOT, read, run_cli


def records(result) -> dict[str, dict]:
    return {r["table_name"] or r["source"]: r for r in map(json.loads, result.stdout.splitlines())}


@pytest.mark.parametrize(
    ("env", "rule", "chosen_by"),
    [
        ({}, "trapezoid", "default"),
        ({"ENERGY_PLUGIN": "pm_counters"}, "left", "ENERGY_PLUGIN=pm_counters"),
        ({"ENERGY_PLUGIN": "acct_gather_energy/RAPL"}, "right", "ENERGY_PLUGIN=rapl"),
        ({"ENERGY_PLUGIN": "ipmi"}, "trapezoid", "ENERGY_PLUGIN=ipmi"),
        ({"ENERGY_PLUGIN": "gpu"}, "trapezoid", "ENERGY_PLUGIN=gpu"),
        (
            {"ENERGY_PLUGIN": "pm_counters", "INTEGRATION_RULE": "right"},
            "right",
            "INTEGRATION_RULE",
        ),
    ],
)
def test_the_rule_follows_the_energy_plugin_unless_one_is_chosen(monkeypatch, env, rule, chosen_by):
    for name in ("ENERGY_PLUGIN", "INTEGRATION_RULE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = AnalysisSettings()
    assert (settings.integration, settings.integration_chosen_by) == (rule, chosen_by)


def test_pm_counters_profiles_get_the_left_rule_and_node_scope_recorded_per_job(
    tmp_path, examples_dir
):
    env = {"ENERGY_PLUGIN": "pm_counters"}
    result = run_cli(
        "-s", str(examples_dir / "job_5.h5"), "--db", "o.duckdb", cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "integration: left, from ENERGY_PLUGIN=pm_counters; energy_scope: node" in result.stderr
    recorded = "SELECT energy_j, integration, energy_scope FROM job_summary"
    assert read(tmp_path / "o.duckdb", recorded) == [(3150.0, "left", "node")]
    # An explicit --integration wins over the plugin's rule, and is what gets recorded.
    result = run_cli(
        "-s", str(examples_dir / "job_5.h5"), "--db", "o.duckdb", "--integration", "trapezoid",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "integration: trapezoid, chosen" in result.stderr
    assert read(tmp_path / "o.duckdb", "SELECT energy_j, integration FROM job_summary") == [
        (3200.0, "trapezoid")
    ]


def test_run_example_names_the_plugin_instead_of_a_rule():
    script = (ROOT / "scripts" / "run-example").read_text()
    assert "ENERGY_PLUGIN=pm_counters" in script and "--integration" not in script


def test_the_table_fits_80_columns_with_relative_names_and_a_reason_under_every_gap(
    tmp_path, examples_dir
):
    folder = tmp_path / "incoming"
    shutil.copytree(examples_dir, folder)
    (folder / "nodestep" / "broken_with_a_rather_long_file_name_for_the_table.h5").write_bytes(
        b"\x89HDF\r\n\x1a\n" + b"\x00" * 64
    )
    result = run_cli("-s", str(folder), "--db", "o.duckdb", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80, "\n".join(lines)
    assert str(tmp_path) not in result.stdout  # names are relative to the folder given
    assert any(line.startswith("nodestep/job_5 ") for line in lines)  # its three files
    broken = lines.index("nodestep/broken_with_a_rather_long_file_name_for_the_table.h5")
    assert "failed" in lines[broken + 1]
    assert lines[broken + 2].startswith("    reason: ")
    assert str(folder) not in lines[broken + 2]  # the reason does not repeat the path
    # Every `-` in a row of figures is explained: under its job, or once for all jobs.
    job_2 = lines.index(next(line for line in lines if line.startswith("job_2.h5 ")))
    assert lines[job_2 + 1] == "    energy: no Energy series in the file (so no cost or CO2 either)"
    assert lines[-2:] == [
        "- CO2: no carbon intensity configured (every job with energy)",
        "- cost: no price configured (every job with energy)",
    ]
    # J and kWh side by side: job_5 used 3200 J (trapezoid) = 0.000889 kWh.
    job_5 = next(line for line in lines if line.startswith("job_5.h5 "))
    assert re.search(r" 3,200\.0\s+0\.000889\s", job_5)


def test_a_reason_that_differs_between_files_stays_under_its_file(tmp_path, examples_dir):
    prices = tmp_path / "prices.csv"  # covers no job: each note names its own window
    prices.write_text("start,price_eur_per_mwh\n2000-01-01T00:00Z,100\n2000-01-01T01:00Z,120\n")
    result = run_cli("-s", str(examples_dir), "--db", "o.duckdb", "--price-file", str(prices),
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    job_5 = next(i for i, line in enumerate(lines) if line.startswith("job_5.h5 "))
    assert lines[job_5 + 1].startswith("    cost: ")


def test_rescan_summary_is_for_people():
    from analysis_module.cli_report import rescan_summary
    from analysis_module.ingest.rescan import RescanReport

    text = rescan_summary(RescanReport(listed=5, profiles=4, enqueued=3, up_to_date=1), "s3://b/")
    assert "RescanReport" not in text and "enqueued_keys" not in text
    assert text.splitlines()[0] == "rescan of s3://b/:"
    assert "       3  queued for analysis" in text.splitlines()
