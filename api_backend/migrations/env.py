"""Alembic environment of the API's tables; `api_backend.migrate` passes the connection.

Only `api_*` tables are ours: autogenerate ignores the analysis tables sharing the database.
"""

from alembic import context

from api_backend.models import Base

VERSION_TABLE = "alembic_version_api"


def _ours(obj, name, type_, reflected, compare_to) -> bool:
    return type_ != "table" or name.startswith("api_")


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        include_object=_ours,
        render_as_batch=True,  # SQLite can only alter tables by copying them
        **kwargs,
    )


if context.is_offline_mode():
    _configure(url=context.config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    _configure(connection=context.config.attributes["connection"])
    with context.begin_transaction():
        context.run_migrations()
