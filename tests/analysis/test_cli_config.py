"""Configuration mistakes in the batch CLI: one line naming the setting, exit 2, nothing touched."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from tests.analysis.test_cli import run_cli


def one_line_error(result) -> str:
    """The whole of stderr must be one line; return it."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def one_profile(tmp_path, examples_dir):
    folder = tmp_path / "profiles"
    folder.mkdir()
    shutil.copy(examples_dir / "job_5.h5", folder / "job_5.h5")
    return folder


@pytest.mark.parametrize(
    ("args", "setting", "words"),
    [
        (["--pue", "0.1"], "--pue", "greater than or equal to 1"),
        (["--pue", "0.5"], "--pue", "greater than or equal to 1"),
        (["--gap-factor", "0"], "--gap-factor", "greater than 1"),
        (["--gap-factor", "-1"], "--gap-factor", "greater than 1"),
        (["--price-file", "nowhere.csv"], "--price-file", "no such file: nowhere.csv"),
        (["--carbon-file", "nowhere.csv"], "--carbon-file", "no such file: nowhere.csv"),
        (["--price-filter-id", "0"], "--price-filter-id", "greater than or equal to 1"),
        (["--price-region", "../x"], "--price-region", "should match pattern"),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2_before_any_file_is_touched(
    tmp_path, one_profile, args, setting, words
):
    result = run_cli("-s", str(one_profile), "--db", "out.duckdb", *args, cwd=tmp_path)
    line = one_line_error(result)
    assert line.startswith(f"configuration error: {setting}: ")
    assert words in line
    assert not (tmp_path / "out.duckdb").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--pue", "abc"], "Invalid value for '--pue'"),
        (["--price-resolution", "day"], "'day' is not one of 'quarterhour', 'hour'"),
        (["--no-such-flag"], "No such option: --no-such-flag"),
        (
            ["--jobs-per-commit", "0"],
            "'--jobs-per-commit': Input should be greater than or equal to 1",
        ),
        (["--jobs-per-commit", "many"], "Invalid value for '--jobs-per-commit'"),
    ],
)
def test_a_malformed_command_line_is_one_line_and_exit_2(tmp_path, one_profile, args, words):
    result = run_cli("-s", str(one_profile), "--db", "out.duckdb", *args, cwd=tmp_path)
    assert words in one_line_error(result)
    assert not (tmp_path / "out.duckdb").exists()


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"PUE": "0.5"}, "PUE: input should be greater than or equal to 1"),
        ({"GAP_FACTOR": "0"}, "GAP_FACTOR: input should be greater than 1"),
        ({"ENERGY_PLUGIN": "bogus"}, "ENERGY_PLUGIN: unknown energy plugin 'bogus'"),
        ({"INTEGRATION_RULE": "simpson"}, "INTEGRATION_RULE: "),
        ({"SMARD_REGION": "DE/LU"}, "SMARD_REGION: string should match pattern"),
        ({"SMARD_RESOLUTION": "day"}, "SMARD_RESOLUTION: input should be 'quarterhour' or 'hour'"),
    ],
)
def test_a_bad_environment_variable_is_refused_the_same_way(tmp_path, one_profile, env, words):
    result = run_cli("-s", str(one_profile), "--db", "out.duckdb", cwd=tmp_path, env=env)
    line = one_line_error(result)
    assert words in line
    assert not (tmp_path / "out.duckdb").exists()


def test_unknown_energy_plugin_lists_slurms_plugins(tmp_path, one_profile):
    result = run_cli("-s", str(one_profile), cwd=tmp_path, env={"ENERGY_PLUGIN": "bogus"})
    line = one_line_error(result)
    for plugin in ("rapl", "pm_counters", "ibmaem", "ipmi", "gpu", "xcc", "none"):
        assert plugin in line
    assert "AcctGatherEnergyType" in line


@pytest.mark.parametrize(
    ("flag", "content", "words"),
    [
        ("--price-file", "when,what\n2026-01-01T00:00Z,1\n", "lacks column"),
        ("--price-file", "start,price_eur_per_mwh\nyesterday,abc\n", "--price-file: "),
        (
            "--carbon-file",
            "start,carbon_g_per_kwh\n2026-11-28T00:00Z,380\n",
            "single row: at least two start times are needed",
        ),
    ],
)
def test_a_malformed_factor_file_is_a_configuration_error(
    tmp_path, one_profile, flag, content, words
):
    factor_file = tmp_path / "factors.csv"
    factor_file.write_text(content)
    result = run_cli(
        "-s", str(one_profile), "--db", "out.duckdb", flag, str(factor_file), cwd=tmp_path
    )
    line = one_line_error(result)
    assert line.startswith(f"configuration error: {flag}: ")
    assert words in line
    assert "last_end_s" not in line
    assert not (tmp_path / "out.duckdb").exists()


def test_an_unwritable_db_is_a_configuration_error(tmp_path, one_profile):
    (tmp_path / "a-file").write_text("not a folder\n")
    result = run_cli("-s", str(one_profile), "--db", "a-file/out.duckdb", cwd=tmp_path)
    line = one_line_error(result)
    assert line.startswith("configuration error: --db: cannot open a-file/out.duckdb")


def test_a_locked_db_is_a_configuration_error(tmp_path, one_profile):
    with duckdb.connect(str(tmp_path / "busy.duckdb")):  # another process holds the lock
        result = run_cli("-s", str(one_profile), "--db", "busy.duckdb", cwd=tmp_path)
    line = one_line_error(result)
    assert line.startswith("configuration error: --db: cannot open busy.duckdb")
    assert "lock" in line


def test_an_empty_folder_says_no_profile_was_found(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no profiles here\n")
    result = run_cli("-s", "empty", "--db", "out.duckdb", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "nothing to analyse: no *.h5 file found in empty"
    assert not (tmp_path / "out.duckdb").exists()


def test_flags_and_environment_agree_on_valid_values(tmp_path, one_profile):
    """A valid flag overrides the environment; the same check applies to both."""
    result = run_cli(
        "-s", str(one_profile), "--db", "out.duckdb", "--pue", "1.2", "--json",
        cwd=tmp_path, env={"PUE": "0.5"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"facility_energy_j": 3840.0' in result.stdout  # 3200 J x 1.2
