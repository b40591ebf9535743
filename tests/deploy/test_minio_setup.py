"""deploy/k8s/minio/configure-minio.sh against a stand-in `mc` that records what it is asked.

The script is what the Kubernetes Job and compose's minio-setup run; the stand-in keeps the
webhook configuration and the bucket's subscriptions in files, as MinIO would keep them.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.deploy.manifests import K8S_DIR

SCRIPT = K8S_DIR / "minio" / "configure-minio.sh"
FAKE_MC = r"""#!/bin/sh
echo "$*" >> "$STATE/calls"
case "$1 $2" in
  "admin config")
    if [ "$3" = get ]; then cat "$STATE/webhook" 2>/dev/null; exit 0; fi
    shift 4; echo "notify_webhook:benchsuite $*" > "$STATE/webhook" ;;
  "event ls") cat "$STATE/events" 2>/dev/null ;;
  "event add") echo "$4 s3:ObjectCreated:*,s3:ObjectRemoved:* Filter: suffix=\"$8\"" \
      >> "$STATE/events" ;;
esac
exit 0
"""


@pytest.fixture
def run(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mc").write_text(FAKE_MC)
    (bin_dir / "mc").chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "STATE": str(tmp_path),
        "MC_CONFIG_DIR": str(tmp_path / "mc"),
        "MINIO_ADMIN_URL": "http://minio.minio.svc.cluster.local:9000",
        "MINIO_ROOT_USER": "admin",
        "MINIO_ROOT_PASSWORD": "a3f9c2e7d1b84f06a3f9c2e7d1b84f06",
        "MINIO_BUCKET": "benchmarks",
        "WEBHOOK_ENDPOINT": "http://analysis-listener.benchsuite.svc.cluster.local:8001/minio-event",
        "MINIO_WEBHOOK_AUTH_TOKEN": "0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a",
        "WEBHOOK_QUEUE_DIR": "/var/lib/minio-events",
        "CREATE_APP_USER": "true",
        "MINIO_ACCESS_KEY": "benchsuite-app",
        "MINIO_SECRET_KEY": "9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
    }

    def _run(**overrides) -> tuple[subprocess.CompletedProcess, list[str]]:
        calls = tmp_path / "calls"
        calls.unlink(missing_ok=True)
        result = subprocess.run(
            ["sh", str(SCRIPT)],
            env={**env, **overrides},
            capture_output=True,
            text=True,
            timeout=60,
        )
        return result, calls.read_text().splitlines() if calls.exists() else []

    return _run


def test_first_run_configures_everything(run, tmp_path):
    result, calls = run()
    assert result.returncode == 0, result.stderr
    assert "mb --ignore-existing target/benchmarks" in calls
    assert any(c.startswith("admin policy create target benchsuite-app ") for c in calls)
    assert "admin user add target benchsuite-app 9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d" in calls
    assert (
        "admin config set target notify_webhook:benchsuite "
        "endpoint=http://analysis-listener.benchsuite.svc.cluster.local:8001/minio-event "
        "auth_token=0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a queue_dir=/var/lib/minio-events "
        "queue_limit=100000"
    ) in calls
    assert calls.index("admin service restart target") > next(
        i for i, c in enumerate(calls) if c.startswith("admin config set")
    )
    # profiles and the LIKWID output beside them
    assert calls[-2:] == [
        "event add target/benchmarks arn:minio:sqs::benchsuite:webhook --event put,delete "
        f"--suffix {suffix}"
        for suffix in (".h5", ".csv")
    ]
    policy = (tmp_path / "mc" / "benchsuite-app-policy.json").read_text()
    assert '"arn:aws:s3:::benchmarks/*"' in policy and "s3:*" not in policy


def test_second_run_changes_nothing_and_does_not_restart_minio(run):
    run()
    result, calls = run()
    assert result.returncode == 0, result.stderr
    assert not [
        c for c in calls if c.startswith(("admin config set", "admin service", "event add"))
    ]
    assert "already up to date" in result.stdout


def test_a_new_token_reconfigures_the_target(run):
    run()
    result, calls = run(MINIO_WEBHOOK_AUTH_TOKEN="5f4e3d2c1b0a99887766554433221100")
    assert result.returncode == 0, result.stderr
    assert any("auth_token=5f4e3d2c1b0a99887766554433221100" in c for c in calls)
    assert "admin service restart target" in calls
    assert not [c for c in calls if c.startswith("event add")]


@pytest.mark.parametrize(
    "name", ["MINIO_WEBHOOK_AUTH_TOKEN", "MINIO_ROOT_PASSWORD", "MINIO_SECRET_KEY"]
)
def test_example_placeholders_are_refused(run, name):
    result, calls = run(**{name: "changeme"})
    assert result.returncode == 2
    assert name in result.stderr
    assert not [c for c in calls if c.startswith(("admin config set", "admin user add"))]


def test_missing_settings_are_named(run):
    result, calls = run(WEBHOOK_QUEUE_DIR="")
    assert result.returncode != 0 and "WEBHOOK_QUEUE_DIR" in result.stderr
    assert calls == []


def test_app_user_is_optional(run):
    result, calls = run(CREATE_APP_USER="false", MINIO_SECRET_KEY="")
    assert result.returncode == 0, result.stderr
    assert not [c for c in calls if c.startswith("admin user")]
