"""Configuration of the analysis deployables (batch CLI, listener, worker), from the environment.

One object per process, built in the entry point (`analysis_module.startup.load_settings`, which
also applies command-line flags) and passed down. Variable names are the deployment's (`MINIO_*`,
`POSTGRES_*`, `SMARD_BASE_URL`); everything has an embedded default so the batch CLI runs on local
files with no servers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from analysis_module.pipeline_core.plugins import normalise_plugin_name, rule_for_plugin

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "minioadmin", "password", "token"}


@dataclass(frozen=True)
class ObjectStoreConfig:
    """What the S3 connector needs of the settings: where, as whom, which bucket, how long."""

    endpoint_url: str | None  # with its scheme; None: boto3's AWS endpoint
    access_key: str | None = field(repr=False)
    secret_key: str | None = field(repr=False)
    region: str
    bucket: str
    connect_timeout_s: float
    read_timeout_s: float
    max_attempts: int


def _env(name: str, default=None, **kwargs):
    return Field(default, validation_alias=name, **kwargs)


class AnalysisSettings(BaseSettings):
    """Everything the analysis reads from its environment."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)
    _rule_chosen_by: str = PrivateAttr("default")

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

    # Where the batch CLI looks for profiles when no --source is given (comma-separated).
    analysis_source: str = _env("ANALYSIS_SOURCE", "data")

    # Local DuckDB file used when no PostgreSQL is configured.
    duckdb_path: Path = _env("DUCKDB_PATH", Path("analysis.duckdb"))
    # DuckDB's memory for writing results (either sink); larger jobs spill to disk.
    duckdb_memory_limit: str = _env(
        "DUCKDB_MEMORY_LIMIT", "512MB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$"
    )

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
    # Unset: the rule follows ENERGY_PLUGIN (pm_counters: left, rapl: right, else trapezoid).
    integration: Literal["trapezoid", "left", "right"] = _env("INTEGRATION_RULE", "trapezoid")
    gap_factor: float = _env("GAP_FACTOR", 3.0, gt=1.0)
    power_ceiling_w: float = _env("POWER_CEILING_W", 100_000.0, gt=0)
    pue: float | None = _env("PUE", None, ge=1.0)
    # The site's AcctGatherEnergyType (rapl: CPU+DRAM; pm_counters, ibmaem: node; ...). The file
    # does not say; unset means the narrower rapl scope is reported for `Power`.
    power_plugin: str | None = _env("ENERGY_PLUGIN")

    # --- Hostile input: per-file limits of the reader and the integration (README) -----------
    # the total bounds time; memory goes with the rows of the one table read at once
    profile_max_decoded_bytes: int = _env("PROFILE_MAX_DECODED_BYTES", 32 * 1024**3, ge=1)
    profile_max_series_rows: int = _env("PROFILE_MAX_SERIES_ROWS", 1_600_000, ge=1)
    # an Energy table is read with every member; every node's power series is kept
    profile_max_energy_table_bytes: int = _env(
        "PROFILE_MAX_ENERGY_TABLE_BYTES", 128 * 1024**2, ge=1
    )
    profile_max_energy_bytes: int = _env("PROFILE_MAX_ENERGY_BYTES", 640 * 1024**2, ge=1)
    profile_max_seconds: float = _env("PROFILE_MAX_SECONDS", 600.0, gt=0)
    profile_max_objects: int = _env("PROFILE_MAX_OBJECTS", 200_000, ge=1)
    max_sample_interval_s: float = _env("MAX_SAMPLE_INTERVAL_S", 3600.0, gt=0)
    # --- end of hostile-input limits ------------------------------------------------------------

    # Prices and carbon intensity.
    smard_base_url: str = _env("SMARD_BASE_URL", "https://www.smard.de/app/chart_data")
    smard_cache_dir: Path = _env("SMARD_CACHE_DIR", Path(".cache/smard"))
    # Which SMARD series --fetch-price reads: 4169 is the day-ahead price; the region and the
    # filter name a folder of the URL and of the cache, so they are letters, digits and '-'.
    smard_filter_id: int = _env("SMARD_FILTER_ID", 4169, ge=1)
    smard_region: str = _env("SMARD_REGION", "DE-LU", pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")
    smard_resolution: Literal["quarterhour", "hour"] = _env("SMARD_RESOLUTION", "quarterhour")
    fetch_price: bool = _env("FETCH_PRICE", False)
    price_file: Path | None = _env("PRICE_FILE")
    flat_price_eur_per_kwh: float | None = _env("FLAT_PRICE_EUR_PER_KWH")
    carbon_file: Path | None = _env("CARBON_FILE")
    carbon_intensity_g_per_kwh: float | None = _env("CARBON_INTENSITY_G_PER_KWH", None, ge=0)

    # --- Event-driven ingestion (listener, worker, rescan); see docs/ingest.md ---------------
    # Name of the procrastinate queue the listener and the rescan put analysis jobs on.
    ingest_queue: str = _env("INGEST_QUEUE", "ingest")
    # Attempts per job before a transient failure (S3 or database unreachable) becomes final.
    ingest_max_attempts: int = _env("INGEST_MAX_ATTEMPTS", 8, ge=1)
    # Exponential backoff between attempts: base * 2**attempt seconds, capped, with jitter.
    ingest_retry_base_s: float = _env("INGEST_RETRY_BASE_S", 2.0, gt=0)
    ingest_retry_max_s: float = _env("INGEST_RETRY_MAX_S", 300.0, gt=0)
    # Cron of the periodic rescan run by the workers (5 fields, or 6 with seconds); "" disables.
    ingest_rescan_cron: str = _env("INGEST_RESCAN_CRON", "*/15 * * * *")
    # Where the worker downloads objects to (system temp dir when unset).
    ingest_download_dir: Path | None = _env("INGEST_DOWNLOAD_DIR")
    # Time budget of one analysis in the worker; twice over it fails the object (0: none).
    ingest_job_timeout_s: float = _env("INGEST_JOB_TIMEOUT_S", 1800.0, ge=0)
    # Quiet period of a job's files: the job is analysed once no file of it arrived (or was
    # removed) for this long, so a job uploaded file by file is analysed once.
    ingest_job_quiet_s: float = _env("INGEST_JOB_QUIET_S", 20.0, ge=0)
    # Listener and worker apply pending migrations at start-up (under an advisory lock).
    ingest_migrate_on_start: bool = _env("INGEST_MIGRATE_ON_START", True)
    # How long the listener and the worker wait for PostgreSQL at start-up.
    ingest_db_wait_s: float = _env("INGEST_DB_WAIT_S", 60.0, ge=0)
    # Listener: connections to PostgreSQL, and how long a request waits for one before a 503.
    listener_db_pool_size: int = _env("LISTENER_DB_POOL_SIZE", 10, ge=1)
    listener_db_timeout_s: float = _env("LISTENER_DB_TIMEOUT_S", 5.0, gt=0)
    # Worker: jobs run at once per process, and how dead workers are detected.
    worker_concurrency: int = _env("WORKER_CONCURRENCY", 1, ge=1)
    worker_poll_interval_s: float = _env("WORKER_POLL_INTERVAL_S", 5.0, gt=0)
    worker_heartbeat_s: float = _env("WORKER_HEARTBEAT_S", 10.0, gt=0)
    worker_stalled_after_s: float = _env("WORKER_STALLED_AFTER_S", 60.0, gt=0)
    worker_stalled_check_s: float = _env("WORKER_STALLED_CHECK_S", 15.0, gt=0)
    worker_shutdown_grace_s: float = _env("WORKER_SHUTDOWN_GRACE_S", 60.0, ge=0)
    # Worker: HTTP endpoint with /metrics, /healthz and /readyz; port 0 disables it.
    worker_metrics_host: str = _env("WORKER_METRICS_HOST", "0.0.0.0")  # noqa: S104 - pod's own
    worker_metrics_port: int = _env("WORKER_METRICS_PORT", 9101, ge=0, le=65535)
    # S3 client: timeouts and botocore's own retries (connection errors beyond them -> retry job).
    s3_connect_timeout_s: float = _env("S3_CONNECT_TIMEOUT_S", 5.0, gt=0)
    s3_read_timeout_s: float = _env("S3_READ_TIMEOUT_S", 60.0, gt=0)
    s3_max_attempts: int = _env("S3_MAX_ATTEMPTS", 3, ge=1)
    # Per-user quotas, the API's settings: the worker re-checks them when an upload arrives
    # (docs/api.md, Quotas); an upload past either is failed "over quota", not analysed.
    user_max_objects: int = _env("USER_MAX_OBJECTS", 1000, ge=1)
    user_max_bytes: int = _env("USER_MAX_BYTES", 10 * 1024**3, ge=1)
    # Finished queue jobs and the event log are pruned daily after this many days (0: never).
    ingest_retention_days: int = _env("INGEST_RETENTION_DAYS", 30, ge=0)
    # --- end of event-driven ingestion --------------------------------------------------------

    @property
    def use_postgres(self) -> bool:
        return bool(self.postgres_host)

    @property
    def s3_endpoint(self) -> str | None:
        """Server-side calls go to the admin endpoint when one is set."""
        return self.minio_admin_endpoint or self.minio_endpoint

    def object_store_config(self) -> ObjectStoreConfig:
        """The S3 connector's part; an endpoint without a scheme takes MINIO_SECURE's."""
        endpoint = self.s3_endpoint
        if endpoint and "://" not in endpoint:
            scheme = "http" if self.minio_secure is False else "https"
            endpoint = f"{scheme}://{endpoint}"
        return ObjectStoreConfig(
            endpoint_url=endpoint or None,
            access_key=self.minio_access_key.get_secret_value() or None,
            secret_key=self.minio_secret_key.get_secret_value() or None,
            region=self.minio_region,
            bucket=self.minio_bucket,
            connect_timeout_s=self.s3_connect_timeout_s,
            read_timeout_s=self.s3_read_timeout_s,
            max_attempts=self.s3_max_attempts,
        )

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

    @field_validator("power_plugin")
    @classmethod
    def _known_energy_plugin(cls, value: str | None) -> str | None:
        return normalise_plugin_name(value) if value and value.strip() else None

    @field_validator("ingest_rescan_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from croniter import croniter  # procrastinate's own cron parser

        if value.strip() and not croniter.is_valid(value):
            raise ValueError(
                "not a cron schedule: use 5 fields (minute hour day month weekday), "
                "a 6th for seconds, or an empty value to disable"
            )
        return value

    @field_validator("price_file", "carbon_file")
    @classmethod
    def _factor_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _rule_follows_the_energy_plugin(self) -> AnalysisSettings:
        """docs/energy-metrics.md section 3: an explicit INTEGRATION_RULE wins."""
        if "integration" in self.model_fields_set:
            self._rule_chosen_by = "INTEGRATION_RULE"
        elif self.power_plugin:
            self.integration = rule_for_plugin(self.power_plugin)
            self._rule_chosen_by = f"ENERGY_PLUGIN={self.power_plugin}"
        return self

    @property
    def integration_chosen_by(self) -> str:
        """What decided the rule: INTEGRATION_RULE (or --integration), ENERGY_PLUGIN, default."""
        return self._rule_chosen_by

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
