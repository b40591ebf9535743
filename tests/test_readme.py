"""The README is the user's entry point: its commands exist and it names every setting."""

from __future__ import annotations

import re
from pathlib import Path

from analysis_module.settings import AnalysisSettings
from api_backend.core.config import Settings as ApiSettings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_environment_variable_is_documented():
    names = {f.validation_alias for f in AnalysisSettings.model_fields.values()}
    names |= {name.upper() for name in ApiSettings.model_fields}
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", README))
    assert sorted(names - documented) == []


def test_the_two_setup_commands_exist_and_ci_runs_the_test_command():
    for command in ("scripts/run-example", "scripts/run-tests"):
        assert f"{command} " in README
        assert (ROOT / command).stat().st_mode & 0o111, f"{command} is not executable"
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line.strip() for line in ci.splitlines() if line.strip()[:1] not in ("", "#")]
    # the README's test command first, then the images are built and run
    assert commands.index("scripts/run-tests") < commands.index("scripts/check-images")
    run_tests = (ROOT / "scripts" / "run-tests").read_text()
    assert "pytest" in run_tests and "lint-imports" in run_tests and "ruff check" in run_tests


def test_linked_documents_exist():
    for link in re.findall(r"\]\(((?:docs|deploy)/[^)#]+)\)", README):
        assert (ROOT / link).exists(), link
