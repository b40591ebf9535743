"""Settings, migrations, start-up, health, metrics and logs."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, inspect

from api_backend.core.config import Settings, load_settings
from api_backend.main import create_app
from api_backend.migrate import VERSION_TABLE, pending_revisions, upgrade_database
from tests.support import postgres
from tests.support.servers import AppProcess

from .conftest import PASSWORD, TestClient, api_env, register

REAL = {
    "jwt_secret": secrets.token_urlsafe(40),
    "bucket_token_secret": secrets.token_urlsafe(40),
    "minio_endpoint": "https://s3.internal:9000",
    "minio_access_key": "svc-api",
    "minio_secret_key": secrets.token_urlsafe(30),
    "postgres_host": "db",
}


def _production(**changes):
    return Settings(**{"app_env": "production", **REAL, **changes})


def test_production_accepts_real_secrets():
    settings = _production()
    assert settings.sqlalchemy_url().drivername == "postgresql+psycopg"
    assert settings.s3_public_endpoint() == "https://s3.internal:9000"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"jwt_secret": None}, "JWT_SECRET is not set"),
        ({"jwt_secret": "short-but-random-Zx81"}, "JWT_SECRET is shorter than 32"),
        (
            {"jwt_secret": "please-change-me-before-deploying-this"},
            "JWT_SECRET looks like a placeholder",
        ),
        ({"bucket_token_secret": "..."}, "BUCKET_TOKEN_SECRET is shorter"),
        ({"bucket_token_secret": "a" * 40}, "too few distinct characters"),
        ({"bucket_token_secret": REAL["jwt_secret"]}, "must differ"),
        ({"minio_secret_key": "minioadmin"}, "MinIO's default"),
        ({"postgres_host": None}, "SQLite is for development only"),
    ],
)
def test_production_refuses_weak_configuration(changes, message):
    with pytest.raises(ValidationError) as error:
        _production(**changes)
    assert message in str(error.value)
    for secret in changes.values():
        if isinstance(secret, str) and len(secret) > 8:
            assert secret not in str(error.value)


def test_development_runs_with_defaults():
    settings = Settings(app_env="development")
    assert settings.sqlalchemy_url().get_backend_name() == "sqlite"
    assert settings.jwt_key() and settings.bucket_token_key()


@pytest.mark.parametrize(
    "changes",
    [
        {"presign_upload_ttl_s": 7 * 86400 + 1},
        {"access_token_ttl_s": 901},
        {"argon2_memory_kib": 19455},
        {"argon2_memory_kib": 19456, "argon2_time_cost": 1},
        {"minio_bucket_prefix": "Bad/Prefix"},
    ],
)
def test_unsafe_limits_are_refused(changes):
    with pytest.raises(ValidationError):
        Settings(app_env="development", **changes)


def test_config_error_names_variables_not_values(monkeypatch):
    leaked = "placeholder-" + secrets.token_hex(20)
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", leaked)
    with pytest.raises(SystemExit) as error:
        load_settings()
    assert "JWT_SECRET" in str(error.value) and leaked not in str(error.value)


def test_database_and_endpoint_settings():
    settings = Settings(
        app_env="development",
        database_url="postgresql://u:p%40ss@db.example:5433/results",
        postgres_host="ignored",
        minio_endpoint="minio:9000",
        minio_secure=False,
    )
    url = settings.sqlalchemy_url()
    assert (url.drivername, url.host, url.port, url.password) == (
        "postgresql+psycopg",
        "db.example",
        5433,
        "p@ss",
    )
    assert settings.s3_admin_endpoint() == "http://minio:9000"
    assert settings.s3_public_endpoint() == "http://minio:9000"
    split = Settings(
        app_env="development",
        minio_endpoint="http://minio:9000",
        minio_admin_endpoint="http://minio-internal:9000",
        minio_public_endpoint="https://files.example.org",
    )
    assert split.s3_admin_endpoint() == "http://minio-internal:9000"
    assert split.s3_public_endpoint() == "https://files.example.org"


def test_migrations_are_idempotent_and_concurrent_starts_take_turns():
    db = postgres.create_database("bs_api_mig")
    try:
        assert pending_revisions(db.sqlalchemy_url) == [
            "0001_api_accounts",
            "0002_refresh_successor",
        ]
        errors = []

        def upgrade():
            try:
                upgrade_database(db.sqlalchemy_url)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=upgrade) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert pending_revisions(db.sqlalchemy_url) == []
        engine = create_engine(db.sqlalchemy_url)
        tables = set(inspect(engine).get_table_names())
        engine.dispose()
        assert {"api_users", "api_sessions", "api_refresh_tokens", VERSION_TABLE} <= tables
    finally:
        postgres.drop_database(db)


def test_refuses_to_start_with_pending_migrations(s3_endpoint, api_bucket):
    db = postgres.create_database("bs_api_mig")
    try:
        env = api_env(db, s3_endpoint, api_bucket, MIGRATE_ON_START="false")
        process = AppProcess("api_backend.main:app", env)
        # AppProcess.start() closes its log before quoting it, so its own error is a
        # ValueError; read the log file instead.
        with pytest.raises((RuntimeError, ValueError)):
            process.start()
        log = Path(process.log.name).read_text()
        assert "migration(s) pending" in log and "python -m api_backend.migrate" in log
    finally:
        postgres.drop_database(db)


def test_local_run_on_sqlite_with_env_only(tmp_path, s3_endpoint, api_bucket):
    env = {
        **s3_endpoint.env(api_bucket),
        "APP_ENV": "development",
        "SQLITE_PATH": str(tmp_path / "api.sqlite3"),
        "POSTGRES_HOST": "",
        "ARGON2_MEMORY_KIB": "19456",
        "ARGON2_TIME_COST": "2",
    }
    server = AppProcess("api_backend.main:app", env)
    with server, httpx.Client(base_url=server.base_url) as http:
        account = register(http)
        login = http.post(
            "/auth/password", json={"username": account.username, "password": PASSWORD}
        )
        assert login.status_code == 200
        assert http.get("/auth/me", headers=account.headers).status_code == 200
        assert http.get("/readyz").status_code == 200
    assert (tmp_path / "api.sqlite3").exists()


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "object_store": "ok"}


def test_readiness_fails_without_the_bucket(make_app_client):
    app = make_app_client(MINIO_BUCKET="no-such-bucket-here")
    ready = app.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["object_store"] != "ok" and ready.json()["database"] == "ok"


def test_metrics_use_route_templates(client, account):
    client.get("/jobs/abc", headers=account.headers)
    text = client.get("/metrics").text
    assert 'api_http_requests_total{method="POST",route="/auth/register",status="201"}' in text
    assert 'route="/jobs/{job_id}"' in text
    assert "api_http_request_duration_seconds_bucket" in text


def test_query_strings_never_reach_the_access_log(client, api_server):
    marker = "Hunter2-" + secrets.token_hex(8)
    client.post("/auth/password", params={"username": "x", "password": marker})
    client.get("/healthz", params={"note": marker})
    assert marker not in api_server.output()


def test_oversized_bodies_are_refused(client):
    big = b'{"username": "' + b"a" * 70_000 + b'", "password": "x"}'
    declared = client.post(
        "/auth/password", content=big, headers={"Content-Type": "application/json"}
    )
    assert declared.status_code == 413 and declared.json()["code"] == "too_large"

    def chunks():
        for _ in range(20):
            yield b"a" * 8192

    streamed = client.post(
        "/auth/register", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


def test_responses_are_marked_nosniff(client):
    assert client.get("/healthz").headers["x-content-type-options"] == "nosniff"


def test_framework_errors_have_the_same_shape(client):
    missing = client.get("/no/such/route")
    assert missing.status_code == 404 and missing.json() == {
        "detail": "Not Found",
        "code": "not_found",
    }
    wrong = client.put("/healthz")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"


def test_database_outage_answers_503_not_500(s3_endpoint, api_bucket):
    db = postgres.create_database("bs_api_down")
    upgrade_database(db.sqlalchemy_url)
    env = api_env(db, s3_endpoint, api_bucket, DB_WAIT_S="0")
    settings = Settings(**{name.lower(): value for name, value in env.items()})
    try:
        with TestClient(create_app(settings), client=("203.0.113.30", 1)) as app:
            account = register(app)
            postgres.drop_database(db)  # the database goes away under the running service
            login = app.post(
                "/auth/password", json={"username": account.username, "password": PASSWORD}
            )
            assert login.status_code == 503 and login.json()["code"] == "unavailable"
            assert app.get("/auth/me", headers=account.headers).status_code == 503
            assert app.get("/readyz").status_code == 503
            # Token checks need no database: presigning still works.
            presign = app.post(
                "/storage/presign/upload", params={"object_name": "a.h5"}, headers=account.headers
            )
            assert presign.status_code == 200
    finally:
        postgres.drop_database(db)
