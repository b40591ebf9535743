"""Configuration of the analysis deployables (batch CLI, listener, worker), from the environment.

One object per process, built in the entry point and passed down. Variable names follow the
seed's deployment (`MINIO_*`, `POSTGRES_*`, `SMARD_BASE_URL`); everything has an embedded default
so the batch CLI runs on local files with no servers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "minioadmin", "password", "token"}


def _env(name: str, default=None, **kwargs):
    return Field(default, validation_alias=name, **kwargs)


class AnalysisSettings(BaseSettings):
    """Everything the analysis reads from its environment."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    app_env: Literal["development", "production"] = _env("APP_ENV", "development")
    log_level: str = _env("LOG_LEVEL", "INFO")
    log_json: bool = _env("LOG_JSON", False)

    # PostgreSQL: when POSTGRES_HOST is set, results go there (through DuckDB's extension).
    postgres_host: str | None = _env("POSTGRES_HOST")
    postgres_port: int = _env("POSTGRES_PORT", 5432)
    postgres_user: str = _env("POSTGRES_USER", "postgres")
    postgres_password: SecretStr = _env("POSTGRES_PASSWORD", SecretStr(""))
    postgres_db: str = _env("POSTGRES_DB", "postgres")
    postgres_sslmode: str | None = _env("POSTGRES_SSLMODE")

    # Local DuckDB file used when no PostgreSQL is configured.
    duckdb_path: Path = _env("DUCKDB_PATH", Path("analysis.duckdb"))

    # S3-compatible object store (MinIO in the reference deployment).
    minio_endpoint: str | None = _env("MINIO_ENDPOINT")
    minio_admin_endpoint: str | None = _env("MINIO_ADMIN_ENDPOINT")
    minio_access_key: SecretStr = _env("MINIO_ACCESS_KEY", SecretStr(""))
    minio_secret_key: SecretStr = _env("MINIO_SECRET_KEY", SecretStr(""))
    minio_region: str = _env("MINIO_REGION", "us-east-1")
    minio_bucket: str = _env("MINIO_BUCKET", "benchmarks")
    minio_prefix: str = _env("MINIO_PREFIX", "")
    minio_bucket_prefix: str = _env("MINIO_BUCKET_PREFIX", "user-")
    minio_secure: bool | None = _env("MINIO_SECURE")
    minio_sync: bool = _env("MINIO_SYNC", False)
    minio_webhook_auth_token: SecretStr = _env("MINIO_WEBHOOK_AUTH_TOKEN", SecretStr(""))

    # Analysis options.
    integration: Literal["trapezoid", "left", "right"] = _env("INTEGRATION_RULE", "trapezoid")
    gap_factor: float = _env("GAP_FACTOR", 3.0, gt=1.0)
    power_ceiling_w: float = _env("POWER_CEILING_W", 100_000.0, gt=0)
    pue: float | None = _env("PUE", None, ge=1.0)

    # Prices and carbon intensity.
    smard_base_url: str = _env("SMARD_BASE_URL", "https://www.smard.de/app/chart_data")
    smard_cache_dir: Path = _env("SMARD_CACHE_DIR", Path(".cache/smard"))
    price_file: Path | None = _env("PRICE_FILE")
    flat_price_eur_per_kwh: float | None = _env("FLAT_PRICE_EUR_PER_KWH")
    carbon_file: Path | None = _env("CARBON_FILE")
    carbon_intensity_g_per_kwh: float | None = _env("CARBON_INTENSITY_G_PER_KWH", None, ge=0)

    @property
    def use_postgres(self) -> bool:
        return bool(self.postgres_host)

    @property
    def s3_endpoint(self) -> str | None:
        """Server-side calls go to the admin endpoint when one is set."""
        return self.minio_admin_endpoint or self.minio_endpoint

    def postgres_dsn(self) -> str:
        """libpq key/value DSN; values quoted so passwords with spaces or quotes survive."""

        def quote(value: str) -> str:
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

        parts = {
            "host": self.postgres_host or "127.0.0.1",
            "port": str(self.postgres_port),
            "user": self.postgres_user,
            "dbname": self.postgres_db,
        }
        if self.postgres_password.get_secret_value():
            parts["password"] = self.postgres_password.get_secret_value()
        if self.postgres_sslmode:
            parts["sslmode"] = self.postgres_sslmode
        return " ".join(f"{key}={quote(value)}" for key, value in parts.items())

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> AnalysisSettings:
        if self.app_env != "production":
            return self
        problems = []
        if self.minio_endpoint or self.minio_admin_endpoint:
            for name, value in (
                ("MINIO_ACCESS_KEY", self.minio_access_key),
                ("MINIO_SECRET_KEY", self.minio_secret_key),
            ):
                if value.get_secret_value().lower() in PLACEHOLDER_SECRETS:
                    problems.append(f"{name} is empty or a placeholder")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self
