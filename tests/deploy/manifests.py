"""Reads the deployment files the way the tools do, for tests that check them offline.

`render_kustomization` follows the parts of kustomize that deploy/k8s and deploy/grafana use
(resources, the namespace, common labels, configMapGenerator with files and labels, image
tags); `secrets.yaml`, which operators write from `secrets.example.yaml`, is read from the
example.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "deploy" / "k8s"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
COMPOSE_FILE = ROOT / "compose.yaml"
STAND_INS = {"secrets.yaml": "secrets.example.yaml"}

# Variables read by something other than our settings classes.
EXTERNAL_VARIABLES = {
    "FORWARDED_ALLOW_IPS": "uvicorn: which proxies' X-Forwarded-* headers are trusted",
    "HEALTHCHECK_URL": "the images' HEALTHCHECK",
}


def load_yaml_documents(path: Path) -> list[dict]:
    with path.open() as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def render_kustomization(directory: Path = K8S_DIR) -> list[dict]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs: list[dict] = []
    for name in kustomization.get("resources", []):
        docs.extend(load_yaml_documents(directory / STAND_INS.get(name, name)))
    for generator in kustomization.get("configMapGenerator", []):
        data = {}
        for entry in generator.get("files", []):
            key, _, file_name = entry.rpartition("=")
            path = directory / file_name
            data[key or path.name] = path.read_text()
        options = generator.get("options", {})
        metadata = {"name": generator["name"]}
        for field in ("labels", "annotations"):
            if field in options:
                metadata[field] = dict(options[field])
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data})
    namespace = kustomization.get("namespace")
    common_labels = {}
    for entry in kustomization.get("labels", []):
        common_labels.update(entry["pairs"])
    for doc in docs:
        if namespace and doc["kind"] != "Namespace":
            doc["metadata"]["namespace"] = namespace
        doc["metadata"].setdefault("labels", {}).update(common_labels)
    images = {image["name"]: image for image in kustomization.get("images", [])}
    for container in iter_containers(docs):
        name, _, tag = container["image"].rpartition(":")
        if not name or "/" in tag:  # no tag; the colon was a registry's port
            name, tag = container["image"], ""
        if name in images:
            new = images[name]
            name = new.get("newName", name)
            tag = new.get("newTag", tag)
        container["image"] = f"{name}:{tag}" if tag else name
    return docs


def pod_specs(docs: list[dict]) -> Iterator[tuple[dict, dict]]:
    """(owning document, pod spec) for every workload."""
    for doc in docs:
        kind = doc["kind"]
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield doc, doc["spec"]["template"]["spec"]
        elif kind == "CronJob":
            yield doc, doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def iter_containers(docs: list[dict]) -> Iterator[dict]:
    for _, spec in pod_specs(docs):
        yield from spec.get("initContainers", [])
        yield from spec.get("containers", [])


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def secret_keys(doc: dict) -> set[str]:
    return set(doc.get("stringData", {})) | set(doc.get("data", {}))


def analysis_variables() -> set[str]:
    from analysis_module.settings import AnalysisSettings

    return {field.validation_alias for field in AnalysisSettings.model_fields.values()}


def api_variables() -> set[str]:
    from api_backend.core.config import Settings

    return {name.upper() for name in Settings.model_fields}


def script_variables(path: Path) -> set[str]:
    """Variables a shell script reads as `${NAME...}` (its own assignments excluded)."""
    text = path.read_text()
    assigned = set(re.findall(r"^\s*([A-Z_][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    return set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text)) - assigned
