"""Start-up of every analysis entry point: settings from the environment and flags, checked once.

The batch CLI, the listener and the worker build their `AnalysisSettings` here. Command-line
flags are passed as overrides to the same model, so a flag and its environment variable are
validated by the same rules. Any configuration mistake becomes a `ConfigurationError` whose text
is one line naming the setting (the flag when it came from one) and what is wrong;
`settings_or_exit` prints that line and exits with status 2, before any file is touched.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import SecretStr, ValidationError

from analysis_module.connectors.alembic_schema import upgrade_database
from analysis_module.connectors.factor_sources import FactorUnavailable, read_factor_file
from analysis_module.connectors.ingest_pool import wait_for_database
from analysis_module.pipeline_core.errors import TransientError
from analysis_module.pipeline_core.text import one_line
from analysis_module.settings import AnalysisSettings

CONFIG_ERROR_EXIT = 2

log = logging.getLogger(__name__)


class ConfigurationError(Exception):
    """A setting is missing, malformed or contradicts another; the text is one line."""


def env_name(field: str) -> str:
    """The environment variable of a settings field (`pue` -> `PUE`)."""
    info = AnalysisSettings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    return alias if isinstance(alias, str) else field.upper()


def _field_of(location: str) -> str | None:
    for name, info in AnalysisSettings.model_fields.items():
        if location in (name, info.validation_alias):
            return name
    return None


def _describe(error: dict, overrides: Mapping[str, object], flags: Mapping[str, str]) -> str:
    location = str(error["loc"][0]) if error.get("loc") else ""
    field = _field_of(location)
    message = error["msg"].removeprefix("Value error, ")
    if field is None:
        return message
    from_flag = field in overrides and field in flags
    setting = flags[field] if from_flag else env_name(field)
    value = error.get("input")
    secret = isinstance(AnalysisSettings.model_fields[field].default, SecretStr)
    hidden = secret or isinstance(value, dict | SecretStr) or str(value) in message
    shown = "" if hidden else f" (got {value!r})"
    return f"{setting}: {message[:1].lower()}{message[1:]}{shown}"


def load_settings(
    overrides: Mapping[str, object] | None = None, flags: Mapping[str, str] | None = None
) -> AnalysisSettings:
    """Environment plus `overrides` (field name -> flag value; None means "not given").

    `flags` maps field names to the flag that set them, so messages name what the user typed.
    """
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    try:
        # Keyed by the variable's name, so a flag replaces its variable before validation.
        settings = AnalysisSettings(**{env_name(field): value for field, value in given.items()})
    except ValidationError as exc:
        problems = [_describe(e, given, flags or {}) for e in exc.errors()]
        raise ConfigurationError("; ".join(problems)) from None
    check_factor_files(settings, flags=flags or {}, given=given)
    return settings


def check_factor_files(
    settings: AnalysisSettings, *, flags: Mapping[str, str], given: Mapping[str, object]
) -> None:
    """Read the price and carbon files once, so a bad one is refused at start-up."""
    for field, column, unit in (
        ("price_file", "price_eur_per_mwh", "EUR/MWh"),
        ("carbon_file", "carbon_g_per_kwh", "g/kWh"),
    ):
        path: Path | None = getattr(settings, field)
        if path is None:
            continue
        try:
            read_factor_file(path, value_column=column, unit=unit)
        except FactorUnavailable as exc:
            setting = flags[field] if field in given and field in flags else env_name(field)
            raise ConfigurationError(f"{setting}: {' '.join(str(exc).split())}") from None


def exit_on_configuration_error(message: str) -> None:
    """Print the one line and leave with status 2 (no traceback)."""
    sys.stderr.write(f"configuration error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(CONFIG_ERROR_EXIT)


def settings_or_exit(
    overrides: Mapping[str, object] | None = None,
    flags: Mapping[str, str] | None = None,
    *,
    require: Callable[[AnalysisSettings], None] | None = None,
) -> AnalysisSettings:
    """`load_settings`, then the entry point's own `require` check; exit 2 on any failure.
    Every entry point boots through here, so it also raises the open-files limit."""
    try:
        settings = load_settings(overrides, flags)
        if require is not None:
            require(settings)
    except ConfigurationError as exc:
        exit_on_configuration_error(str(exc))
    raise_open_files_limit()
    return settings


def raise_open_files_limit() -> int:
    """The soft open-files limit raised to the hard one; returns the limit now in force.

    A job's files stay open while it is analysed (a 1,000-node job has a few thousand
    node-step files), and login shells often start with a soft limit of 1,024 under a hard
    limit far above it. Raising the soft limit up to the hard one needs no privilege.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft >= hard:
        return soft
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError) as exc:  # a container may cap it below the hard limit
        log.info("open-files limit stays at %d: %s", soft, exc)
        return soft
    return wanted


def require_postgres(component: str) -> Callable[[AnalysisSettings], None]:
    def check(settings: AnalysisSettings) -> None:
        if not settings.use_postgres:
            raise ConfigurationError(f"POSTGRES_HOST: is not set; {component} needs PostgreSQL")

    return check


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one `configuration error:` line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        exit_on_configuration_error(message)


async def prepare_database(settings: AnalysisSettings) -> None:
    """Wait for PostgreSQL (up to INGEST_DB_WAIT_S), then apply pending migrations if asked.

    Every listener and worker replica may do this at once: `upgrade_database` serialises them
    with an advisory lock.
    """
    await wait_for_database(settings)
    if settings.ingest_migrate_on_start:
        await asyncio.to_thread(upgrade_database, settings.postgres_dsn())


def apply_migrations(settings: AnalysisSettings) -> None:
    """Bring PostgreSQL's analysis schema up to date (the batch CLI, when it writes there)."""
    try:
        upgrade_database(settings.postgres_dsn())
    except Exception as exc:  # psycopg/sqlalchemy errors: the server is not there yet
        raise TransientError(f"PostgreSQL unreachable: {one_line(exc)}") from exc
