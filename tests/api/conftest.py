"""Fixtures of the API tests: the session's PostgreSQL with every migration (`pg_db`), Ceph's
S3 gateway and the API under uvicorn (one process for the session), plus helpers."""

from __future__ import annotations

import contextlib
import secrets
import uuid
import warnings
from dataclasses import dataclass

import httpx
import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package for its TestClient; httpx works the same here.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from api_backend.core.config import Settings
from api_backend.main import create_app
from tests.support.servers import AppProcess

ARGON2_MINIMUM = {"ARGON2_MEMORY_KIB": "19456", "ARGON2_TIME_COST": "2", "ARGON2_PARALLELISM": "1"}
PASSWORD = "a long enough passphrase for tests 42"
# As the image runs it (Dockerfile): the API, not uvicorn, decides whom to believe.
API_UVICORN_ARGS = ["--no-proxy-headers"]


@pytest.fixture(scope="session")
def api_bucket(s3_endpoint) -> str:
    return s3_endpoint.new_bucket("api")


def api_env(db, s3_endpoint, bucket: str, **overrides: str) -> dict[str, str]:
    """Production settings with fresh random secrets and test-friendly limits."""
    env = {
        "APP_ENV": "production",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "BUCKET_TOKEN_SECRET": secrets.token_urlsafe(48),
        **db.env(),
        **s3_endpoint.env(bucket),
        **ARGON2_MINIMUM,
        "PASSWORD_HASH_THREADS": "2",
        "LOGIN_MAX_FAILURES_PER_ACCOUNT": "1000",
        "LOGIN_MAX_FAILURES_PER_ADDRESS": "100000",
        "LOGIN_SLOWDOWN_AFTER_FAILURES": "100000",
        "REGISTER_MAX_PER_ADDRESS": "100000",
        "REFRESH_REUSE_GRACE_S": "0",
        "LOG_LEVEL": "WARNING",
    }
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def api_server(pg_db, s3_endpoint, api_bucket):
    env = api_env(pg_db, s3_endpoint, api_bucket)
    with AppProcess("api_backend.main:app", env, extra_args=API_UVICORN_ARGS) as server:
        server.settings_env = env
        yield server


@pytest.fixture
def client(api_server):
    """An HTTP client of the session's server; the test fails if the server logged a crash."""
    log_start = len(api_server.output())
    with httpx.Client(base_url=api_server.base_url, timeout=30.0) as http:
        yield http
    new_log = api_server.output()[log_start:]
    assert "Traceback" not in new_log, new_log[-4000:]


@pytest.fixture
def make_app_client(pg_db, s3_endpoint, api_bucket):
    """In-process apps (for settings the session's server doesn't have, e.g. tight limits).
    `client_ip` sets the address the app sees, so throttling tests don't share one."""
    stack = contextlib.ExitStack()

    def make(client_ip: str = "203.0.113.1", **overrides: str) -> TestClient:
        env = api_env(pg_db, s3_endpoint, api_bucket, **overrides)
        settings = Settings(**{name.lower(): value for name, value in env.items()})
        app = create_app(settings)
        return stack.enter_context(TestClient(app, client=(client_ip, 50000)))

    yield make
    stack.close()


@dataclass
class Account:
    username: str
    password: str
    user: dict
    tokens: dict

    @property
    def access(self) -> str:
        return self.tokens["access_token"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


def register(http: httpx.Client | TestClient, username: str | None = None) -> Account:
    username = username or f"user-{uuid.uuid4().hex[:12]}"
    answer = http.post("/auth/register", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return Account(username, PASSWORD, body["user"], body)


@pytest.fixture
def account(client) -> Account:
    return register(client)


@pytest.fixture
def other_account(client) -> Account:
    return register(client)
