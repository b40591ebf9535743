"""docs/operations.md: every command it tells an operator to run is run here or checked.

Commands that can run without a cluster or a container engine are run (the Python entry
points, the batch analysis, the migrations, the backup and restore, the Grafana grants, the
linters). The others are listed by program with the reason they can't run here, and checked
against the files: the paths they name exist, the compose services and Kubernetes resources
they name are defined, the images they build are the ones the manifests use, and the MinIO
commands match what the setup script does. A command of any other program fails the test, so
the guide can't gain an unchecked step. The Ceph topic commands are replayed against the
suite's RADOS Gateway.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.deploy.manifests import (
    COMPOSE_FILE,
    EXTERNAL_VARIABLES,
    K8S_DIR,
    ROOT,
    analysis_variables,
    api_variables,
    by_kind,
    pod_specs,
    render_kustomization,
)
from tests.support import postgres

DOC = ROOT / "docs" / "operations.md"
PYTHON = sys.executable
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```$", re.MULTILINE | re.DOTALL)

NEEDS = {
    "podman": "needs a container engine",
    "docker": "needs a container engine",
    "sudo": "needs a k3s node (image import into containerd)",
    "mc": "needs a running MinIO",
    "openssl": "a standard tool (random secrets)",
    "chmod": "a standard tool",
    "cp": "a standard tool",
    "export": "a shell builtin",
}
# kubectl subcommands that need a cluster; `kubectl kustomize` does not.
KUBECTL_CLUSTER = {"apply", "get", "rollout", "wait", "logs", "delete", "patch", "create", "scale"}
KIND_ALIASES = {
    "deployment": "Deployment",
    "job": "Job",
    "cronjob": "CronJob",
    "hpa": "HorizontalPodAutoscaler",
}


@dataclass(frozen=True)
class Block:
    language: str
    text: str


def doc_blocks() -> list[Block]:
    blocks = []
    for match in FENCE.finditer(DOC.read_text()):
        indent = len(match.group(1))
        lines = [line[indent:] for line in match.group(3).splitlines()]
        blocks.append(Block(match.group(2), "\n".join(lines)))
    return blocks


def doc_commands() -> list[str]:
    commands = []
    for block in doc_blocks():
        if block.language != "sh":
            continue
        for line in block.text.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def doc_sql_statements() -> list[str]:
    statements = []
    for block in doc_blocks():
        if block.language == "sql":
            statements += [s.strip() for s in block.text.split(";\n") if s.strip()]
    for command in doc_commands():
        words = shlex.split(command)
        if "psql" in words and "-c" in words:
            statements.append(words[words.index("-c") + 1])
    return [s.rstrip(";") for s in statements]


def _words(command: str) -> list[str]:
    """The first stage of a pipeline, without redirections."""
    words = shlex.split(command.split(" | ")[0])
    cut = next((i for i, w in enumerate(words) if w in (">", "<")), len(words))
    return words[:cut]


def _repo_paths(command: str) -> list[str]:
    candidates = re.findall(
        r"(?<![\w/.:-])((?:deploy|analysis_module|api_backend|examples|docs|tests)/[\w./*-]+|compose\.yaml|Dockerfile)",
        command,
    )
    return [c for c in candidates if not c.endswith("secrets.yaml") or "example" in c]


@pytest.fixture(scope="module")
def k8s_docs() -> list[dict]:
    return render_kustomization()


@pytest.fixture(scope="module")
def compose_services() -> set[str]:
    return set(yaml.safe_load(COMPOSE_FILE.read_text())["services"])


def test_the_guide_has_commands():
    assert len(doc_commands()) > 40
    assert doc_sql_statements()


def test_every_path_a_command_names_exists():
    for command in doc_commands():
        for path in _repo_paths(command):
            if "*" in path:
                assert list(ROOT.glob(path)), f"{command}: {path}"
            else:
                assert (ROOT / path).exists(), f"{command}: {path}"


def _check_podman(words: list[str], compose_services: set[str], k8s_docs: list[dict]) -> None:
    if words[1] == "build":
        tag = words[words.index("-t") + 1]
        dockerfile = words[words.index("-f") + 1] if "-f" in words else "Dockerfile"
        images = {c["image"] for d in k8s_docs for c in _containers(d)}
        compose = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
        built_by = {
            s["image"]: s["build"].get("dockerfile", "Dockerfile")
            for s in compose.values()
            if "build" in s
        }
        assert tag in images and built_by[tag] == dockerfile, words
        assert words[-1] == "."
    elif words[1] == "save":
        assert words[2] in {c["image"] for d in k8s_docs for c in _containers(d)}
    elif words[1] == "compose":
        verb_at = next(i for i, w in enumerate(words[2:], 2) if not w.startswith("-"))
        verb, rest = words[verb_at], words[verb_at + 1 :]
        named = [w for w in rest if not w.startswith("-") and not w.isdigit()]
        if verb in ("exec", "run", "logs"):
            services = named[:1] if verb in ("exec", "run") else named
            assert set(services) <= compose_services, words
        if verb == "up" and "--scale" in rest:
            assert rest[rest.index("--scale") + 1].split("=")[0] in compose_services
        if verb == "run":
            _check_python(rest[rest.index(named[0]) + 1 :])
    else:
        pytest.fail(f"podman {words[1]} is not checked")


def _containers(doc: dict) -> list[dict]:
    return [
        c
        for _, spec in pod_specs([doc])
        for c in spec.get("initContainers", []) + spec["containers"]
    ]


def _check_kubectl(words: list[str], k8s_docs: list[dict], created: set[str]) -> None:
    args = words[1:]
    if args[:2] == ["-n", "benchsuite"]:
        args = args[2:]
    assert args[0] in KUBECTL_CLUSTER | {"kustomize"}, words
    if "-k" in args:
        assert (ROOT / args[args.index("-k") + 1] / "kustomization.yaml").exists()
    for word in args:
        kind, _, name = word.partition("/")
        if kind in KIND_ALIASES and name and not word.startswith("--"):
            if name in created:
                continue
            assert name in by_kind(k8s_docs, KIND_ALIASES[kind]), word
    if args[0] in ("delete", "get", "patch") and args[1] in KIND_ALIASES:
        assert args[2] in by_kind(k8s_docs, KIND_ALIASES[args[1]]), words
    if args[:2] == ["create", "job"]:
        created.add(args[-1])


def _check_mc(words: list[str]) -> None:
    script = (K8S_DIR / "minio" / "configure-minio.sh").read_text()
    if words[1:3] == ["event", "add"]:
        assert words[4] == "arn:minio:sqs::benchsuite:webhook"
        assert words[5:8] == ["--event", "put,delete", "--suffix"]
        assert '--event put,delete --suffix "$suffix"' in script
        assert words[8] in script.split("for suffix in ")[1].split(";")[0].split()
    if words[1:4] == ["admin", "config", "set"]:
        assert words[5] == "notify_webhook:benchsuite"
        keys = [pair.split("=")[0] for pair in words[6:]]
        assert keys == ["endpoint", "auth_token", "queue_dir", "queue_limit"]
        config = by_kind(render_kustomization(), "ConfigMap")["minio-setup"]["data"]
        assert f"endpoint={config['WEBHOOK_ENDPOINT']}" in words
        assert f"queue_dir={config['WEBHOOK_QUEUE_DIR']}" in words


def _check_aws(words: list[str], s3_endpoint) -> None:
    """The Ceph topic and subscription commands, replayed against the test suite's gateway
    (a fresh bucket, the topic ARN the gateway returns)."""
    assert words[1:3] == ["--endpoint-url", "https://rgw.example.org"], words
    action = words[3:5]
    if action == ["sns", "create-topic"]:
        attributes = json.loads(words[words.index("--attributes") + 1])
        assert attributes["push-endpoint"].endswith(":8001/ceph-event")
        assert attributes["OpaqueData"] == "TOKEN"
        name = words[words.index("--name") + 1]
        arn = s3_endpoint.sns().create_topic(Name=name, Attributes=attributes)["TopicArn"]
        assert arn.endswith(f":{name}")
    elif action == ["s3api", "put-bucket-notification-configuration"]:
        configuration = json.loads(words[words.index("--notification-configuration") + 1])
        topics = configuration["TopicConfigurations"]
        suffixes = [t["Filter"]["Key"]["FilterRules"] for t in topics]
        assert suffixes == [[{"Name": "suffix", "Value": end}] for end in (".h5", ".csv")]
        for topic in topics:
            assert "s3:ObjectCreated:*" in topic["Events"]
            name = topic["TopicArn"].rsplit(":", 1)[1]
            topic["TopicArn"] = s3_endpoint.sns().create_topic(Name=name)["TopicArn"]
        bucket = s3_endpoint.new_bucket("docs")
        client = s3_endpoint.client()
        client.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=configuration
        )
        stored = client.get_bucket_notification_configuration(Bucket=bucket)
        assert sorted(t["Id"] for t in stored["TopicConfigurations"]) == sorted(
            t["Id"] for t in topics
        )
    else:
        assert action == ["s3api", "get-bucket-notification-configuration"], words


def _help(argv: list[str]) -> str:
    result = subprocess.run(
        [PYTHON, *argv, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _check_python(words: list[str]) -> None:
    """`python -m MODULE ...` or `python SCRIPT ...`: the entry point exists, flags are known."""
    if words[0] == ".venv/bin/python":
        words = ["python", *words[1:]]
    assert words[0] == "python", words
    if words[1] == "-m":
        target, args = words[2], words[3:]
        assert importlib.util.find_spec(target) is not None, target
        argv = ["-m", target]
    else:
        target, args = words[1], words[2:]
        assert (ROOT / target).is_file(), target
        argv = [target]
    flags = [a.split("=")[0] for a in args if a.startswith("--")]
    if flags:
        usage = _help(argv)
        for flag in flags:
            assert flag in usage, f"{target} has no {flag}"


def test_every_command_is_run_or_checked(compose_services, k8s_docs, s3_endpoint):
    created: set[str] = set()
    for command in doc_commands():
        for stage in command.split(" | "):
            words = _words(stage)
            program = words[0]
            if program in ("podman", "docker"):
                _check_podman(words, compose_services, k8s_docs)
            elif program == "kubectl":
                _check_kubectl(words, k8s_docs, created)
            elif program == "mc":
                _check_mc(words)
            elif program == "aws":
                _check_aws(words, s3_endpoint)
            elif program in ("python", ".venv/bin/python"):
                _check_python(words)
            elif program in ("psql", "pg_dump", "pg_restore"):
                assert command in RUN_HERE, f"{command}: run by test_backup_and_grants"
            elif program in (
                ".venv/bin/pytest",
                ".venv/bin/check-jsonschema",
                ".venv/bin/hadolint",
            ):
                # The project's environment: the one running these tests.
                assert (Path(PYTHON).parent / program.split("/")[-1]).exists(), program
            elif program == "sh":
                assert words[1] == "deploy/compose/init-env.sh"  # run by test_compose
            elif program in NEEDS:
                pass
            else:
                pytest.fail(f"{command}: no check for {program!r}")


# Run here as written, with PGURI pointing at a test database (and the reader role's name
# replaced by a unique one).
RUN_HERE = {
    'psql "$PGURI" --set=reader=grafana_reader --file=deploy/grafana/grafana-reader.sql',
    'pg_dump --format=custom --file=benchsuite.dump "$PGURI"',
    "pg_restore --list benchsuite.dump",
    'pg_restore --no-owner --exit-on-error --dbname="$PGURI" benchsuite.dump',
}


def _sh(command: str, *, uri: str, cwd: Path, password: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PGURI": uri, "PGPASSWORD": password}
    return subprocess.run(
        ["sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_backup_restore_and_grants_as_written(pg_fresh_db, tmp_path):
    for tool in ("psql", "pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    assert set(doc_commands()) >= RUN_HERE
    reader = f"grafana_reader_{uuid.uuid4().hex[:8]}"
    with pg_fresh_db.connect() as conn:
        conn.execute(f'CREATE ROLE "{reader}" NOLOGIN')
    target = postgres.create_database("bs_restore")
    try:
        grants = next(c for c in RUN_HERE if c.startswith("psql"))
        done = _sh(
            grants.replace("reader=grafana_reader", f"reader={reader}"),
            uri=pg_fresh_db.dsn,
            cwd=ROOT,
            password=pg_fresh_db.password,
        )
        assert done.returncode == 0, done.stderr
        for command in (
            'pg_dump --format=custom --file=benchsuite.dump "$PGURI"',
            "pg_restore --list benchsuite.dump",
        ):
            done = _sh(command, uri=pg_fresh_db.dsn, cwd=tmp_path, password=pg_fresh_db.password)
            assert done.returncode == 0, done.stderr
        assert "job_summary" in done.stdout
        # The grants name a role the target server knows; restore into an empty database.
        done = _sh(
            'pg_restore --no-owner --exit-on-error --dbname="$PGURI" benchsuite.dump',
            uri=target.dsn,
            cwd=tmp_path,
            password=target.password,
        )
        assert done.returncode == 0, done.stderr
        with target.connect() as conn:
            relations = {
                f"{schema}.{name}"
                for schema, name in conn.execute(
                    "SELECT table_schema, table_name FROM information_schema.tables "
                    "WHERE table_schema IN ('public', 'results')"
                )
            }
        assert {
            "public.job_summary",  # the views readers query
            "public.job_step_node",
            "results.job_summary",
            "results.job_samples",
            "public.ingest_objects",
            "public.api_users",
        } <= relations
    finally:
        postgres.drop_database(target)
        with pg_fresh_db.connect() as conn:
            conn.execute(f'DROP OWNED BY "{reader}"')
        with postgres.server().connect() as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{reader}"')


# SQL statements of the guide that can't run inside the test's rolled-back transaction.
SQL_NOT_RUN = {
    "CREATE DATABASE": "not allowed inside a transaction; a PostgreSQL administrator runs it"
}


def test_every_sql_statement_runs(pg_fresh_db):
    """Against a migrated database, in a transaction that is rolled back."""
    with psycopg.connect(pg_fresh_db.dsn) as conn:
        for statement in doc_sql_statements():
            if any(statement.upper().startswith(prefix) for prefix in SQL_NOT_RUN):
                continue
            # A role of that name may exist on this server already.
            with (
                conn.transaction(force_rollback=True),
                contextlib.suppress(psycopg.errors.DuplicateObject),
            ):
                conn.execute(statement)


def test_the_entry_points_run(pg_fresh_db, tmp_path):
    """The migrations from the environment, and the batch analysis the guide shows."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "MINIO_"))}
    db_env = {**env, **pg_fresh_db.env(), "APP_ENV": "development"}
    for module in ("analysis_module.migrate", "api_backend.migrate"):
        done = subprocess.run(
            [PYTHON, "-m", module],
            env=db_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    batch = next(
        c
        for c in doc_commands()
        if c.startswith("python analysis_module/duckdb_analysis.py --source")
    )
    done = subprocess.run(
        [PYTHON, *shlex.split(batch)[1:]],
        env={**env, "DUCKDB_PATH": str(tmp_path / "analysis.duckdb")},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "analysis.duckdb").exists()
    assert _help(["-m", "tests.deploy.lockfile"])


def test_every_variable_and_metric_is_documented():
    text = DOC.read_text()
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", text))
    variables = analysis_variables() | api_variables() | set(EXTERNAL_VARIABLES)
    config = by_kind(render_kustomization(), "ConfigMap")["minio-setup"]["data"]
    datasource = (ROOT / "deploy/grafana/provisioning/datasources/benchsuite.yaml").read_text()
    variables |= set(config) | set(re.findall(r"\$\{([A-Z_]+)\}", datasource))
    assert not variables - documented, sorted(variables - documented)

    code = "\n".join(
        p.read_text() for d in ("analysis_module", "api_backend") for p in (ROOT / d).rglob("*.py")
    )
    metrics = set()
    for kind, name in re.findall(r"\b(Counter|Histogram|Gauge|Summary)\(\s*\"(\w+)\"", code):
        metrics.add(name if kind != "Counter" or name.endswith("_total") else f"{name}_total")
    table = text.split("## Metrics and logs")[1].split("\n## ")[0]
    listed = set(re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE))
    assert listed == metrics
