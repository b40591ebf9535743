"""compose.yaml: valid against the Compose Specification, and wired the way the docs say."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.manifests import (
    COMPOSE_FILE,
    EXTERNAL_VARIABLES,
    K8S_DIR,
    ROOT,
    analysis_variables,
    api_variables,
    script_variables,
)

BIN = Path(sys.executable).parent
OUR_IMAGES = {
    "localhost/benchsuite/analysis-module": analysis_variables,
    "localhost/benchsuite/api-backend": api_variables,
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def dot_env() -> dict[str, str]:
    """What `sh deploy/compose/init-env.sh > .env` writes."""
    generated = subprocess.run(
        ["sh", str(ROOT / "deploy/compose/init-env.sh")], capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split("=", 1) for line in generated.splitlines() if line and line[0] != "#")


def test_validates_against_the_compose_spec():
    """check-jsonschema's vendored Compose Specification schema (no network needed)."""
    result = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_images_are_pinned(services):
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag and tag != "latest", f"{name}: {image}"


def test_every_interpolated_variable_comes_from_init_env(dot_env):
    """`${VAR:?...}` fails loudly when .env lacks it: init-env.sh must write every one."""
    text = COMPOSE_FILE.read_text()
    required = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)(?::\?[^}]*)?\}", text))
    values = dot_env
    assert required <= set(values), required - set(values)
    secrets = [v for k, v in values.items() if k.endswith(("PASSWORD", "SECRET", "KEY", "TOKEN"))]
    assert all(len(v) == 64 for v in secrets if v not in ("benchsuite-app",))
    assert len(set(secrets)) == len(secrets), "every secret is drawn on its own"


def test_listener_gets_the_token_minio_sends(services):
    listener = services["listener"]["environment"]["MINIO_WEBHOOK_AUTH_TOKEN"]
    target = services["minio-setup"]["environment"]["MINIO_WEBHOOK_AUTH_TOKEN"]
    assert listener == target and listener.startswith("${MINIO_WEBHOOK_AUTH_TOKEN")


def test_minio_posts_to_the_listener_and_queues_on_a_volume(services):
    setup = services["minio-setup"]["environment"]
    endpoint = urlsplit(setup["WEBHOOK_ENDPOINT"])
    listener_command = services["listener"]["command"]
    assert endpoint.hostname == "listener" and endpoint.path == "/minio-event"
    assert str(endpoint.port) == listener_command[listener_command.index("--port") + 1]
    volumes = {v.split(":")[1]: v.split(":")[0] for v in services["minio"]["volumes"]}
    assert volumes[setup["WEBHOOK_QUEUE_DIR"]] == "minio-events", "queue_dir on a named volume"
    mounted = services["minio-setup"]["volumes"][0].split(":")[0]
    assert (ROOT / mounted).resolve() == K8S_DIR / "minio" / "configure-minio.sh"
    assert set(setup) <= script_variables(K8S_DIR / "minio" / "configure-minio.sh")


def test_services_start_after_their_migrations(services):
    for name in ("listener", "worker"):
        assert services[name]["depends_on"]["migrate-analysis"] == {
            "condition": "service_completed_successfully"
        }, name
    assert services["api"]["depends_on"]["migrate-api"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["migrate-analysis"]["command"] == ["python", "-m", "analysis_module.migrate"]
    assert services["migrate-api"]["command"] == ["python", "-m", "api_backend.migrate"]
    grants = services["grafana-grants"]["depends_on"]
    assert set(grants) == {"migrate-analysis", "migrate-api"}


def test_two_workers(services):
    worker = services["worker"]
    assert worker["deploy"]["replicas"] == 2
    assert worker["command"] == ["python", "-m", "analysis_module.worker"]


def test_our_services_get_only_variables_they_read(services):
    for name, service in services.items():
        repository = service["image"].rpartition(":")[0]
        if repository not in OUR_IMAGES:
            continue
        known = OUR_IMAGES[repository]() | set(EXTERNAL_VARIABLES)
        unknown = set(service.get("environment", {})) - known
        assert not unknown, f"{name}: {sorted(unknown)}"


def test_bind_mounts_exist_and_grafana_is_provisioned(services):
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source}"
    grafana = {v.split(":")[1]: v.split(":")[0] for v in services["grafana"]["volumes"]}
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/benchsuite.yaml").read_text()
    )
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert grafana[dashboards_path] == "./deploy/grafana/dashboards"
    datasource_text = (ROOT / "deploy/grafana/provisioning/datasources/benchsuite.yaml").read_text()
    wanted = set(re.findall(r"\$\{([A-Z_]+)\}", datasource_text))
    assert wanted <= set(services["grafana"]["environment"])


def test_ports_are_bound_to_loopback(services):
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name}: {port}"


def _interpolate(value: str, env: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        name, operator, rest = match.group(1), match.group(2), match.group(3)
        if operator == ":-":
            return env.get(name) or rest
        return env[name]

    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:[?-])([^}]*))?\}", replace, value)


def test_service_settings_parse_in_production_mode(services, dot_env):
    """With the values init-env.sh writes, each service's settings load and pass validation."""
    from analysis_module.settings import AnalysisSettings
    from api_backend.core.config import Settings

    env = dot_env
    for name in ("listener", "worker", "migrate-analysis"):
        values = {k: _interpolate(str(v), env) for k, v in services[name]["environment"].items()}
        settings = AnalysisSettings(**values)
        assert settings.app_env == "production" and settings.postgres_host == "postgres", name
    for name in ("api", "migrate-api"):
        values = {
            k.lower(): _interpolate(str(v), env) for k, v in services[name]["environment"].items()
        }
        assert Settings(**values).s3_public_endpoint() == "http://localhost:9000", name
