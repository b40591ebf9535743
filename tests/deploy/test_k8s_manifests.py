"""deploy/k8s: valid against the Kubernetes schemas, and the invariants a reviewer checks."""

from __future__ import annotations

import secrets
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from tests.deploy.manifests import (
    EXTERNAL_VARIABLES,
    GRAFANA_DIR,
    K8S_DIR,
    analysis_variables,
    api_variables,
    by_kind,
    iter_containers,
    pod_specs,
    render_kustomization,
    script_variables,
    secret_keys,
)

# Oldest and newest Kubernetes minor the manifests are checked against (k3s follows upstream).
K8S_VERSIONS = ("1.29", "1.34")
LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet")
# Long-running containers without probes, and why. Remove an entry when the reason goes.
WITHOUT_PROBES: dict[str, str] = {}


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return render_kustomization()


def _name(doc: dict) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_resource_validates_strictly(docs, version):
    errors = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{_name(doc)}: {'.'.join(map(str, exc.path))}: {exc.message}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("directory", [K8S_DIR, GRAFANA_DIR], ids=["k8s", "grafana"])
def test_kustomize_renders_the_same_resources(tmp_path, directory):
    """With kubectl at hand, the real kustomize agrees with the reading the tests use."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; the Python rendering is validated instead")
    work = tmp_path / directory.name
    shutil.copytree(directory, work)
    if (work / "secrets.example.yaml").exists():
        shutil.copy(work / "secrets.example.yaml", work / "secrets.yaml")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(work)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    real = sorted((doc for doc in yaml.safe_load_all(rendered) if doc), key=_name)
    ours = sorted(render_kustomization(directory), key=_name)
    assert [_name(doc) for doc in real] == [_name(doc) for doc in ours]
    for doc, mine in zip(real, ours, strict=True):
        kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)
        assert doc["metadata"].get("namespace") == mine["metadata"].get("namespace")
        assert doc["metadata"]["labels"] == mine["metadata"]["labels"]
        if doc["kind"] == "ConfigMap":
            assert doc["data"] == mine["data"]


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_grafana_dashboards_ship_as_sidecar_config_maps(version):
    docs = render_kustomization(GRAFANA_DIR)
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)
    maps = by_kind(docs, "ConfigMap")
    dashboards = maps["benchsuite-dashboards"]
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert set(dashboards["data"]) == {p.name for p in (GRAFANA_DIR / "dashboards").glob("*.json")}
    assert maps["benchsuite-datasource"]["metadata"]["labels"]["grafana_datasource"] == "1"


def test_pods_run_restricted(docs):
    """Non-root, no privilege escalation, no capabilities, read-only root, no API token."""
    namespace = by_kind(docs, "Namespace")["benchsuite"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for owner, spec in pod_specs(docs):
        where = _name(owner)
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["runAsUser"] >= 1000, where
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["automountServiceAccountToken"] is False, where
        for container in spec.get("initContainers", []) + spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert context["readOnlyRootFilesystem"] is True, where


def test_every_container_has_requests_and_limits(docs):
    for container in iter_containers(docs):
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) >= {"cpu", "memory"}, container["name"]


def test_long_running_containers_have_probes(docs):
    for doc in docs:
        if doc["kind"] not in LONG_RUNNING:
            continue
        if doc["metadata"]["name"] in WITHOUT_PROBES:
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for probe in ("livenessProbe", "readinessProbe"):
                assert probe in container, f"{_name(doc)} {container['name']} has no {probe}"


def test_prometheus_scrapes_a_port_the_pods_serve(docs):
    """Every long-running Deployment is scraped, on a port its container declares."""
    for name, deployment in by_kind(docs, "Deployment").items():
        template = deployment["spec"]["template"]
        annotations = template["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", name
        assert annotations["prometheus.io/path"] == "/metrics", name
        ports = {
            port["containerPort"]
            for container in template["spec"]["containers"]
            for port in container.get("ports", [])
        }
        assert int(annotations["prometheus.io/port"]) in ports, name
    worker = by_kind(docs, "Deployment")["analysis-worker"]["spec"]["template"]
    config = by_kind(docs, "ConfigMap")["benchsuite-analysis"]["data"]
    assert worker["metadata"]["annotations"]["prometheus.io/port"] == config["WORKER_METRICS_PORT"]


def test_images_are_pinned(docs):
    for container in iter_containers(docs):
        image = container["image"]
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag, f"{image} has no tag"
        assert tag != "latest", image
        assert container["imagePullPolicy"] == "IfNotPresent", image


def test_env_references_resolve(docs):
    """Every ConfigMap/Secret a container or volume names exists, with the key it reads."""
    config_maps = by_kind(docs, "ConfigMap")
    secrets = {name: secret_keys(doc) for name, doc in by_kind(docs, "Secret").items()}
    for owner, spec in pod_specs(docs):
        where = _name(owner)
        for container in spec.get("initContainers", []) + spec["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps, where
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets, where
            for var in container.get("env", []):
                ref = var.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    name, key = ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"]
                    assert key in secrets.get(name, ()), f"{where}: {name}/{key} missing"
                if "configMapKeyRef" in ref:
                    name, key = ref["configMapKeyRef"]["name"], ref["configMapKeyRef"]["key"]
                    assert key in config_maps[name]["data"], f"{where}: {name}/{key} missing"
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps, where


def test_configuration_names_only_variables_that_exist(docs):
    """A misspelt key in a ConfigMap or Secret would be ignored silently: none may exist."""
    known = analysis_variables() | api_variables() | set(EXTERNAL_VARIABLES)
    script = script_variables(K8S_DIR / "minio" / "configure-minio.sh")
    config_maps = by_kind(docs, "ConfigMap")
    for name in ("benchsuite-common", "benchsuite-api", "benchsuite-analysis"):
        assert set(config_maps[name]["data"]) <= known, name
    assert set(config_maps["minio-setup"]["data"]) <= script
    secrets = by_kind(docs, "Secret")
    assert secret_keys(secrets["benchsuite-secrets"]) <= known
    assert secret_keys(secrets["minio-admin"]) <= script
    # Secrets never sit in a ConfigMap.
    secret_names = secret_keys(secrets["benchsuite-secrets"]) | secret_keys(secrets["minio-admin"])
    for doc in config_maps.values():
        assert not secret_names & set(doc.get("data", {})), doc["metadata"]["name"]


def test_example_secrets_hold_only_placeholders(docs):
    for doc in by_kind(docs, "Secret").values():
        for key, value in doc["stringData"].items():
            assert value == "changeme" or key == "MINIO_ACCESS_KEY", key


def test_services_ingress_and_autoscaler_point_at_real_pods(docs):
    deployments = by_kind(docs, "Deployment")
    pod_labels = {
        name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()
    }

    def selects(selector: dict) -> list[str]:
        return [n for n, labels in pod_labels.items() if selector.items() <= labels.items()]

    services = by_kind(docs, "Service")
    for name, service in services.items():
        targets = selects(service["spec"]["selector"])
        assert len(targets) == 1, name
        container_ports = {
            port["name"]
            for c in deployments[targets[0]]["spec"]["template"]["spec"]["containers"]
            for port in c.get("ports", [])
        }
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports, name
    for ingress in by_kind(docs, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                ports = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in ports
    hpa = by_kind(docs, "HorizontalPodAutoscaler")["analysis-worker"]
    assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
    for policy in by_kind(docs, "NetworkPolicy").values():
        assert selects(policy["spec"]["podSelector"]["matchLabels"]), policy["metadata"]["name"]
    for budget in by_kind(docs, "PodDisruptionBudget").values():
        assert selects(budget["spec"]["selector"]["matchLabels"]), budget["metadata"]["name"]


def test_listener_is_reachable_only_from_minio_and_prometheus(docs):
    service = by_kind(docs, "Service")["analysis-listener"]
    assert service["spec"]["type"] == "ClusterIP"
    policy = by_kind(docs, "NetworkPolicy")["analysis-listener-ingress"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    sources = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    namespaces = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in sources
    }
    assert namespaces == {"minio", "monitoring"}
    minio_peer = next(p for p in sources if "podSelector" in p)
    assert minio_peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "minio"


def test_minio_job_targets_the_listener_with_the_listener_token(docs):
    config = by_kind(docs, "ConfigMap")["minio-setup"]["data"]
    service = by_kind(docs, "Service")["analysis-listener"]
    port = service["spec"]["ports"][0]["port"]
    assert config["WEBHOOK_ENDPOINT"] == (
        f"http://analysis-listener.benchsuite.svc.cluster.local:{port}/minio-event"
    )
    job = by_kind(docs, "Job")["minio-setup"]["spec"]["template"]["spec"]["containers"][0]
    listener = by_kind(docs, "Deployment")["analysis-listener"]["spec"]["template"]["spec"]
    token_ref = {v["name"]: v["valueFrom"]["secretKeyRef"] for v in job["env"] if "valueFrom" in v}[
        "MINIO_WEBHOOK_AUTH_TOKEN"
    ]
    listener_ref = {
        v["name"]: v["valueFrom"]["secretKeyRef"] for v in listener["containers"][0]["env"]
    }["MINIO_WEBHOOK_AUTH_TOKEN"]
    assert token_ref == listener_ref
    assert config["WEBHOOK_QUEUE_DIR"].startswith("/")


def test_migrations_run_before_every_service(docs):
    commands = {
        "api-backend": ["python", "-m", "api_backend.migrate"],
        "analysis-listener": ["python", "-m", "analysis_module.migrate"],
        "analysis-worker": ["python", "-m", "analysis_module.migrate"],
    }
    for name, deployment in by_kind(docs, "Deployment").items():
        init = deployment["spec"]["template"]["spec"]["initContainers"]
        assert [c["command"] for c in init] == [commands[name]], name


def test_worker_outlives_its_shutdown_grace(docs):
    worker = by_kind(docs, "Deployment")["analysis-worker"]["spec"]["template"]["spec"]
    grace = float(
        by_kind(docs, "ConfigMap")["benchsuite-analysis"]["data"]["WORKER_SHUTDOWN_GRACE_S"]
    )
    assert worker["terminationGracePeriodSeconds"] > grace


def test_rescan_runs_in_the_cronjob_only(docs):
    cron = by_kind(docs, "CronJob")["benchsuite-rescan"]
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "analysis_module/duckdb_analysis.py", "--rescan"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert by_kind(docs, "ConfigMap")["benchsuite-analysis"]["data"]["INGEST_RESCAN_CRON"] == ""


def _real_looking_secrets(docs) -> dict[str, str]:
    """The example Secret's keys with random values, which pass the placeholder checks."""
    keys = secret_keys(by_kind(docs, "Secret")["benchsuite-secrets"])
    return {key: secrets.token_hex(32) for key in keys}


def test_config_maps_parse_as_the_services_settings(docs):
    """The values are valid for the settings classes that read them, in production mode."""
    from analysis_module.settings import AnalysisSettings
    from api_backend.core.config import Settings

    maps = by_kind(docs, "ConfigMap")
    values = _real_looking_secrets(docs)
    common = maps["benchsuite-common"]["data"]
    api = Settings(
        **{
            k.lower(): v
            for k, v in {**common, **maps["benchsuite-api"]["data"], **values}.items()
            if k.upper() in api_variables()
        }
    )
    assert api.app_env == "production" and api.postgres_host == common["POSTGRES_HOST"]
    analysis = AnalysisSettings(**{**common, **maps["benchsuite-analysis"]["data"], **values})
    assert analysis.app_env == "production" and analysis.ingest_rescan_cron == ""
