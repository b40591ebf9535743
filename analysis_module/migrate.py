"""`python -m analysis_module.migrate`: applies the analysis schema to PostgreSQL, then exits.

The compose and Kubernetes migration jobs run this; the listener and the workers also migrate at
start-up unless INGEST_MIGRATE_ON_START is false (see `analysis_module.startup`).
"""

from __future__ import annotations

from analysis_module.connectors.alembic_schema import upgrade_database

__all__ = ["main", "upgrade_database"]


def main() -> None:
    """`python -m analysis_module.migrate`: apply pending migrations from the environment."""
    from analysis_module.settings import AnalysisSettings

    settings = AnalysisSettings()
    if not settings.use_postgres:
        raise SystemExit("POSTGRES_HOST is not set: nothing to migrate (DuckDB files need none)")
    upgrade_database(settings.postgres_dsn())


if __name__ == "__main__":
    main()
