"""One runner, one DuckDB file: after each hostile profile, a valid profile is analysed."""

from __future__ import annotations

import shutil

import pytest

from analysis_module.app.runner import build_runner
from analysis_module.settings import AnalysisSettings
from tests.analysis.conftest import query
from tests.support.hostile_profiles import EXAMPLES, SECRET_MARKER, VALID_NAME, write_corpus


def test_the_same_runner_analyses_a_valid_file_after_each_hostile_one(tmp_path, runner_factory):
    expected = write_corpus(tmp_path / "corpus", tmp_path / "host", n_tiny_nodes=20)
    valid = tmp_path / "job_5.h5"
    shutil.copy(EXAMPLES / "job_5.h5", valid)
    runner = runner_factory()
    for name, want in expected.items():
        if name == VALID_NAME:
            continue
        outcome = runner.analyse_file(tmp_path / "corpus" / name, source=name)
        assert outcome.status == want.status, (name, outcome.error)
        if want.status == "failed":
            assert want.phrase in outcome.error, (name, outcome.error)
        after = runner.analyse_file(valid, source=f"valid-after-{name}")
        assert after.status == "ok", (name, after.error)
        assert after.summary["energy_j"] == pytest.approx(3200.0)
    rows = query(runner, "SELECT source, status, coalesce(error, '') FROM job_summary")
    assert len(rows) == 2 * (len(expected) - 1)
    assert not any(SECRET_MARKER in error for _, _, error in rows)
    failed = {source for source, status, _ in rows if status == "failed"}
    assert failed == {n for n, w in expected.items() if w.status == "failed"}


def test_the_decoded_bytes_setting_reaches_the_reader(tmp_path):
    settings = AnalysisSettings(
        DUCKDB_PATH=tmp_path / "results.duckdb", PROFILE_MAX_DECODED_BYTES=1_000
    )
    runner = build_runner(settings)
    try:
        outcome = runner.analyse_file(EXAMPLES / "job_5.h5", source="job_5.h5")
    finally:
        runner.close()
    assert outcome.status == "failed"
    assert "PROFILE_MAX_DECODED_BYTES" in outcome.error


def test_the_interval_ceiling_setting_reaches_the_integration(tmp_path):
    settings = AnalysisSettings(DUCKDB_PATH=tmp_path / "results.duckdb", MAX_SAMPLE_INTERVAL_S=0.5)
    runner = build_runner(settings)
    try:
        outcome = runner.analyse_file(EXAMPLES / "job_5.h5", source="job_5.h5")
    finally:
        runner.close()
    assert outcome.status == "ok"  # job_5 samples every second: every interval is now a gap
    assert outcome.summary["energy_j"] is None
    assert "no interval between two valid power samples" in outcome.summary["cost_note"]
