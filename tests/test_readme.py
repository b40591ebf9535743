"""The README is the user's entry point: its commands exist and it names every setting."""

from __future__ import annotations

import re
import subprocess
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


SETTING_NAMES = {f.validation_alias for f in AnalysisSettings.model_fields.values()} | {
    name.upper() for name in ApiSettings.model_fields
}

# Defaults the table states in words, and the value each stands for.
PROSE_DEFAULTS = {
    "unset": None,
    "empty": "",
    "temp dir": None,  # the system's temporary folder, chosen at run time
    "development value": None,  # a fixed development-only key, refused in production
    "admin endpoint": None,  # falls back to MINIO_ADMIN_ENDPOINT
    "7 days": 7 * 86400,
    "14 days": 14 * 86400,
    "30 days": 30 * 86400,
    "2 GiB": 2 * 1024**3,
    "10 GiB": 10 * 1024**3,
    "SMARD's chart_data URL": "https://www.smard.de/app/chart_data",
    "the rule of `ENERGY_PLUGIN`, else `trapezoid`": "trapezoid",
}


def _readme_value(text: str):
    text = re.sub(r"\s*\([^)]*\)$", "", text.strip())  # "unset (boto3's AWS endpoint)"
    if text.strip("`") in SETTING_NAMES:
        return None  # "falls back to that variable"
    if re.fullmatch(r"`[^`]*`", text):
        return text.strip("`")
    assert text in PROSE_DEFAULTS, f"README default {text!r}: say it as `value` or add it here"
    return PROSE_DEFAULTS[text]


def _same(readme, default) -> bool:
    if hasattr(default, "get_secret_value"):
        default = default.get_secret_value()
    if readme is None:
        return default in (None, "")
    if isinstance(default, bool):
        return readme == str(default).lower()
    if isinstance(default, int | float):
        return float(readme) == float(default)
    return str(readme) == str(default)


def _configuration_rows():
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            yield re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]), cells[1], cells[2]


def _defaults_per_reader(readers: str, cell: str) -> dict[str, str]:
    sides = re.fullmatch(r"A: (.*), P: (.*)", cell)
    if sides:
        return {"A": sides.group(1), "P": sides.group(2)}
    return {
        side: cell for side in ("A", "P") if side in readers or (side == "A" and "I" in readers)
    }


def test_the_configuration_table_states_the_real_defaults():
    analysis = {f.validation_alias: f for f in AnalysisSettings.model_fields.values()}
    api = {name.upper(): f for name, f in ApiSettings.model_fields.items()}
    api_effective = {"MINIO_ENDPOINT": ApiSettings(app_env="development").s3_admin_endpoint()}
    checked, wrong = 0, []
    for names, readers, cell in _configuration_rows():
        for side, text in _defaults_per_reader(readers, cell).items():
            parts = text.split(", ")
            values = parts if len(parts) == len(names) else [text] * len(names)
            for name, value in zip(names, values, strict=True):
                fields = analysis if side == "A" else api
                if name not in fields:
                    continue  # read by a library (PROMETHEUS_MULTIPROC_DIR), not our settings
                default = fields[name].default
                if side == "P" and name in api_effective:
                    default = api_effective[name].split("://", 1)[1]
                checked += 1
                if not _same(_readme_value(value), default):
                    wrong.append(f"{name} ({side}): README {value!r}, code {default!r}")
    assert wrong == []
    assert checked > 80  # every row was read, not skipped


def test_getting_your_profiles_says_what_the_cluster_and_the_user_need():
    section = README.split("## Getting your profiles", 1)[1].split("\n## ", 1)[0]
    for fact in (
        "AcctGatherProfileType=acct_gather_profile/hdf5",
        "ProfileHDF5Dir",
        "--profile=task,energy --acctg-freq=energy=1",
        "<jobid>_<step>_<node>.h5",
        "sh5util -j",
        "scontrol show config | grep",
        "AcctGatherEnergyType",
        "ENERGY_PLUGIN",
    ):
        assert fact in section, fact


def test_every_command_names_the_projects_interpreter():
    """`python ...` alone fails outside the venv (`No module named 'typer'`). (docs/operations.md
    is about the images, whose `python` is the image's own.)"""
    documents = [README, *((ROOT / "docs" / n).read_text() for n in ("api.md", "ingest.md"))]
    for document in documents:
        for command in re.findall(r"(?:^|`)((?:python|uvicorn|pytest) [^`\n]*)", document, re.M):
            assert command.startswith(("python -m pytest api_backend/tests",)), command


def _git_ignored(paths: list[Path]) -> set[Path]:
    """Those of `paths` git ignores (none when this is not a git checkout)."""
    files = [str(path.relative_to(ROOT)) for path in paths if path.is_file()]
    done = subprocess.run(
        ["git", "check-ignore", "--stdin"],
        cwd=ROOT, input="\n".join(files), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode not in (0, 1):  # 1: nothing ignored; other: no git here
        return set()
    return {ROOT / line for line in done.stdout.splitlines() if line}


def test_nothing_points_outside_the_repository_or_tells_its_history():
    # Spelled in pieces so this file does not match itself.
    outside = re.compile(r"\.\./" + "shared|/" + "work/|\\b" + "se" + "ed\\b", re.I)
    folders = ("analysis_module", "api_backend", "tests", "docs", "bench", "scripts", "deploy")
    paths = [ROOT / "README.md", *(p for f in folders for p in (ROOT / f).rglob("*"))]
    ignored = _git_ignored(paths)  # a bench's output under bench/out/ is nobody's text
    paths = [path for path in paths if path not in ignored]
    offenders = []
    for path in paths:
        if not path.is_file() or path.suffix in (".h5", ".pyc", ".sqlite3", ".duckdb"):
            continue
        text = path.read_text(errors="ignore")
        offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in outside.finditer(text)]
    assert offenders == []
