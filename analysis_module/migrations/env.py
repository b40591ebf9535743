"""Alembic environment of the analysis schema; the connection comes from `migrate.py`."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table="alembic_version_analysis")
with context.begin_transaction():
    context.run_migrations()
