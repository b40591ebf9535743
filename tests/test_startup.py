"""Start-up of the deployables as operators run them: a configuration mistake is one line on
stderr naming the setting, exit status 2, no traceback, and nothing is contacted first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def start(command: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTGRES_", "MINIO_", "DATABASE_", "APP_", "JWT_", "BUCKET_"))
    }
    environment.update(env)
    return subprocess.run(
        command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120
    )


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    return lines[0]


WORKER = [sys.executable, "-m", "analysis_module.worker"]
LISTENER = [str(BIN / "uvicorn"), "analysis_module.minio_listener:app", "--port", "0"]
API = [str(BIN / "uvicorn"), "api_backend.main:app", "--port", "0"]
# A port nothing listens on: reaching the database would hang or fail differently.
NO_DB = {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "9", "INGEST_DB_WAIT_S": "0"}


@pytest.mark.parametrize(
    ("command", "env", "expected"),
    [
        (WORKER, {}, "configuration error: POSTGRES_HOST: is not set; the worker"),
        (WORKER, {**NO_DB, "ENERGY_PLUGIN": "bogus"}, "ENERGY_PLUGIN: unknown energy plugin"),
        (WORKER, {**NO_DB, "WORKER_CONCURRENCY": "0"}, "WORKER_CONCURRENCY: input should be"),
        ([*WORKER, "--concurrency", "0"], NO_DB, "--concurrency: input should be greater"),
        ([*WORKER, "--concurrency", "two"], NO_DB, "--concurrency: invalid int value: 'two'"),
        (WORKER, {**NO_DB, "PRICE_FILE": "missing.csv"}, "PRICE_FILE: no such file: missing"),
        (WORKER, {**NO_DB, "INGEST_RESCAN_CRON": "every hour"}, "INGEST_RESCAN_CRON: not a cron"),
        (WORKER, {**NO_DB, "USER_MAX_OBJECTS": "0"}, "USER_MAX_OBJECTS: input should be greater"),
        (LISTENER, {**NO_DB, "ENERGY_PLUGIN": "bogus"}, "ENERGY_PLUGIN: unknown energy plugin"),
        (LISTENER, {**NO_DB, "GAP_FACTOR": "-1"}, "GAP_FACTOR: input should be greater than 1"),
        (LISTENER, {"APP_ENV": "development"}, "POSTGRES_HOST: is not set; the listener"),
        (
            LISTENER,
            {**NO_DB, "APP_ENV": "production", "MINIO_WEBHOOK_AUTH_TOKEN": ""},
            "MINIO_WEBHOOK_AUTH_TOKEN is empty or a placeholder",
        ),
        (API, {"APP_ENV": "production"}, "refusing to start with APP_ENV=production: JWT_SECRET"),
        (API, {"APP_ENV": "development", "DB_POOL_SIZE": "0"}, "DB_POOL_SIZE: input should be"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_configuration_mistake_is_one_line_and_exit_2(tmp_path, command, env, expected):
    line = one_line(start(command, tmp_path, **env))
    assert expected in line
    assert "configuration error" in line


def test_the_development_api_database_lives_in_an_ignored_cache_folder():
    from api_backend.core.config import Settings

    path = Path(Settings.model_fields["sqlite_path"].default)
    assert path.parts[0] == ".cache"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(path)], cwd=Path(__file__).resolve().parents[1]
    )
    assert ignored.returncode == 0, f"{path} is not git-ignored"
