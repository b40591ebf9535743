"""The API's settings, read once from the environment and validated before anything starts.

Outside development the service refuses to start with a missing, short or placeholder secret;
error messages name the variable, never its value.
"""

from __future__ import annotations

import sys
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

S3_MAX_PRESIGN_S = 7 * 24 * 3600  # SigV4 presigned URLs can't live longer (S3 and MinIO)
S3_MAX_SINGLE_UPLOAD_BYTES = 5 * 1024**3  # largest object a single PUT or POST may create
OWASP_ARGON2_MIN_MEMORY_KIB = 19456  # OWASP Password Storage Cheat Sheet: m=19 MiB, t=2, p=1
OWASP_ARGON2_MIN_WORK = OWASP_ARGON2_MIN_MEMORY_KIB * 2
MIN_SECRET_CHARS = 32

# Development stand-ins: fixed (so several workers agree) and refused in production.
DEV_JWT_SECRET = "development-only-jwt-secret-never-use-in-production"  # noqa: S105
DEV_BUCKET_TOKEN_SECRET = "development-only-bucket-token-secret-never-use-in-production"  # noqa: S105

_PLACEHOLDER_MARKERS = (
    "change",
    "replace",
    "placeholder",
    "example",
    "secret",
    "password",
    "development-only",
    "minioadmin",
    "...",
)


def placeholder_reason(value: str) -> str | None:
    """Why `value` can't be a production secret, or None when it looks like a real one."""
    if len(value) < MIN_SECRET_CHARS:
        return f"is shorter than {MIN_SECRET_CHARS} characters"
    lowered = value.lower()
    if any(marker in lowered for marker in _PLACEHOLDER_MARKERS):
        return "looks like a placeholder"
    if len(set(value)) < 10:
        return "has too few distinct characters to be random"
    return None


class Settings(BaseSettings):
    """Every variable the API reads; the names are the upper-case field names."""

    # hide_input_in_errors: a validation error must never print the values (secrets).
    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        hide_input_in_errors=True,
    )

    app_env: Literal["development", "production"] = "production"
    log_level: str = "INFO"
    docs_enabled: bool = True
    # The origin client's query-string credentials and benchmark_name (auth/legacy.py).
    legacy_client_compat: bool = False

    # Database: DATABASE_URL wins; else POSTGRES_* (as the analysis reads them) when
    # POSTGRES_HOST is set; else, in development only, an SQLite file.
    database_url: SecretStr | None = None
    postgres_host: str | None = None
    postgres_port: int = 5432
    postgres_user: str = "postgres"
    postgres_password: SecretStr = SecretStr("")
    postgres_db: str = "postgres"
    postgres_sslmode: str | None = None
    sqlite_path: str = ".cache/api_backend.sqlite3"  # git-ignored; the folder is created
    db_pool_size: int = Field(10, ge=1, le=100)
    db_wait_s: float = Field(30.0, ge=0)
    migrate_on_start: bool = True

    # Tokens.
    jwt_secret: SecretStr | None = None
    bucket_token_secret: SecretStr | None = None
    jwt_issuer: str = "benchsuite-api"
    jwt_audience: str = "benchsuite-api"
    access_token_ttl_s: int = Field(900, ge=30, le=900)
    refresh_token_ttl_s: int = Field(14 * 86400, ge=60)
    session_max_age_s: int = Field(30 * 86400, ge=60)
    refresh_reuse_grace_s: int = Field(10, ge=0, le=120)
    revocation_poll_s: float = Field(1.0, gt=0, le=60)

    # Passwords (NIST SP 800-63B-4: 15 characters when the password is the only factor).
    password_min_length: int = Field(15, ge=8, le=64)
    password_max_length: int = Field(256, ge=64, le=1024)
    argon2_memory_kib: int = Field(OWASP_ARGON2_MIN_MEMORY_KIB, ge=OWASP_ARGON2_MIN_MEMORY_KIB)
    argon2_time_cost: int = Field(2, ge=1)
    argon2_parallelism: int = Field(1, ge=1, le=16)
    password_hash_threads: int = Field(2, ge=1, le=64)

    # Throttling of logins, password changes and registrations (sliding window).
    login_window_s: int = Field(900, ge=1)
    login_max_failures_per_account: int = Field(10, ge=1)
    login_max_failures_per_address: int = Field(100, ge=1)
    login_slowdown_after_failures: int = Field(20, ge=1)
    login_slowdown_max_s: int = Field(60, ge=1, le=3600)
    register_max_per_address: int = Field(20, ge=1)
    # Peers whose X-Forwarded-For is believed (comma-separated addresses or CIDR networks);
    # empty: nobody's, the TCP peer is the client.
    trusted_proxies: str = ""

    # Object store (MINIO_* names, as the analysis reads them).
    # MINIO_DEFAULT_ENDPOINT, the name older deployments use, works too.
    minio_endpoint: str | None = Field(
        None, validation_alias=AliasChoices("minio_endpoint", "minio_default_endpoint")
    )
    minio_admin_endpoint: str | None = None
    minio_public_endpoint: str | None = None
    minio_secure: bool | None = None
    minio_access_key: str | None = None
    minio_secret_key: SecretStr | None = None
    minio_region: str = "us-east-1"
    minio_bucket: str = "benchmarks"
    minio_bucket_prefix: str = Field("user-", pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$")
    s3_timeout_s: float = Field(5.0, gt=0)
    presign_upload_ttl_s: int = Field(300, ge=1, le=S3_MAX_PRESIGN_S)
    presign_download_ttl_s: int = Field(300, ge=1, le=S3_MAX_PRESIGN_S)
    upload_max_bytes: int = Field(2 * 1024**3, ge=1, le=S3_MAX_SINGLE_UPLOAD_BYTES)
    list_max_keys: int = Field(1000, ge=1, le=1000)
    # Per-user quotas, checked when an upload URL or policy is issued.
    user_max_objects: int = Field(1000, ge=1)
    user_max_bytes: int = Field(10 * 1024**3, ge=1)
    quota_cache_s: float = Field(10.0, ge=0, le=3600)

    # Results.
    timeseries_max_rows: int = Field(200_000, ge=1)
    # Signed links to a job's report page (`POST /jobs/{id}/report-link`): 7 days by default,
    # at most 30, so a link mailed at the end of a job still opens the next week.
    report_link_ttl_s: int = Field(7 * 86400, ge=60, le=30 * 86400)
    # How users reach the API (behind a proxy: its public address), for links the API hands
    # out; unset: the address the request came to.
    api_public_url: str | None = Field(None, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.argon2_memory_kib * self.argon2_time_cost < OWASP_ARGON2_MIN_WORK:
            raise ValueError(
                "ARGON2_MEMORY_KIB x ARGON2_TIME_COST is below OWASP's minimum (19456 KiB x 2)"
            )
        if self.password_min_length > self.password_max_length:
            raise ValueError("PASSWORD_MIN_LENGTH is above PASSWORD_MAX_LENGTH")
        self.s3_admin_endpoint()
        self.s3_public_endpoint()
        self.trusted_proxy_networks()
        if self.app_env == "development":
            return self
        problems = []
        for name, secret in (
            ("JWT_SECRET", self.jwt_secret),
            ("BUCKET_TOKEN_SECRET", self.bucket_token_secret),
        ):
            if secret is None:
                problems.append(f"{name} is not set")
            elif reason := placeholder_reason(secret.get_secret_value()):
                problems.append(f"{name} {reason}")
        if (
            self.jwt_secret is not None
            and self.bucket_token_secret is not None
            and self.jwt_secret.get_secret_value() == self.bucket_token_secret.get_secret_value()
        ):
            problems.append("JWT_SECRET and BUCKET_TOKEN_SECRET must differ")
        if not (self.minio_admin_endpoint or self.minio_endpoint):
            problems.append("MINIO_ENDPOINT (or MINIO_ADMIN_ENDPOINT) is not set")
        if not self.minio_access_key or self.minio_secret_key is None:
            problems.append("MINIO_ACCESS_KEY and MINIO_SECRET_KEY must be set")
        elif self.minio_secret_key.get_secret_value() == "minioadmin":
            problems.append("MINIO_SECRET_KEY is MinIO's default")
        if self.database_url is None and not self.postgres_host:
            problems.append("set DATABASE_URL or POSTGRES_HOST (SQLite is for development only)")
        if problems:
            raise ValueError(
                "refusing to start with APP_ENV=production: "
                + "; ".join(problems)
                + " (APP_ENV=development allows local defaults)"
            )
        return self

    # Derived values -----------------------------------------------------------------------

    def jwt_key(self) -> str:
        return self.jwt_secret.get_secret_value() if self.jwt_secret else DEV_JWT_SECRET

    def bucket_token_key(self) -> bytes:
        secret = self.bucket_token_secret
        return (secret.get_secret_value() if secret else DEV_BUCKET_TOKEN_SECRET).encode()

    def sqlalchemy_url(self) -> URL:
        if self.database_url is not None:
            url = make_url(self.database_url.get_secret_value())
            if url.drivername in ("postgresql", "postgres"):
                url = url.set(drivername="postgresql+psycopg")
            return url
        if self.postgres_host:
            query = {"sslmode": self.postgres_sslmode} if self.postgres_sslmode else {}
            return URL.create(
                "postgresql+psycopg",
                username=self.postgres_user,
                password=self.postgres_password.get_secret_value() or None,
                host=self.postgres_host,
                port=self.postgres_port,
                database=self.postgres_db,
                query=query,
            )
        Path(self.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        return URL.create("sqlite", database=self.sqlite_path)

    def _endpoint(self, value: str | None) -> str:
        value = value or "127.0.0.1:9000"
        if "://" not in value:  # the MinIO SDK's "host:port" form plus MINIO_SECURE
            value = ("https://" if self.minio_secure is not False else "http://") + value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("object store endpoints must be http(s)://host[:port][/path]")
        return value.rstrip("/")

    def s3_admin_endpoint(self) -> str:
        """Where the service itself talks to the store (list, head, delete, readiness)."""
        return self._endpoint(self.minio_admin_endpoint or self.minio_endpoint)

    def s3_public_endpoint(self) -> str:
        """The address users' clients reach; presigned URLs are signed for this host."""
        return self._endpoint(
            self.minio_public_endpoint or self.minio_admin_endpoint or self.minio_endpoint
        )

    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        networks = []
        for item in filter(None, (part.strip() for part in self.trusted_proxies.split(","))):
            try:
                networks.append(ip_network(item, strict=False))
            except ValueError:
                raise ValueError(
                    "TRUSTED_PROXIES must be comma-separated IP addresses or networks, "
                    "e.g. 10.42.0.0/16"
                ) from None
        return tuple(networks)

    def s3_credentials(self) -> tuple[str, str]:
        secret = self.minio_secret_key.get_secret_value() if self.minio_secret_key else ""
        return self.minio_access_key or "", secret


class ConfigurationExit(SystemExit):
    """Exit status 2 after a configuration error; `str()` is the one line that was printed."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _variable(location: tuple) -> str:
    """The environment variable of an error location (`jwt_secret` -> `JWT_SECRET`)."""
    return ".".join(map(str, location)).upper()


def _message(text: str) -> str:
    text = text.removeprefix("Value error, ")
    return text[:1].lower() + text[1:]


def load_settings() -> Settings:
    """Settings from the environment. A configuration error prints one line naming the
    variables (never their values) on stderr and exits with status 2, without a traceback."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            ": ".join(filter(None, (_variable(e["loc"]), _message(e["msg"])))) for e in exc.errors()
        )
        message = f"api_backend: configuration error: {problems}"
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        raise ConfigurationExit(message) from None
