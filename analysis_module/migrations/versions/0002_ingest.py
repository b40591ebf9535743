"""Event-driven ingestion: ingest_objects, ingest_events and procrastinate's job queue.

Revision ID: 0002_ingest
Revises: 0001_results
Create Date: 2026-11-28

The queue's schema is procrastinate's own SQL, read from the installed package, so one
`upgrade_database(dsn)` sets up everything a listener or worker needs. A later procrastinate
release that changes its schema ships migration files (`procrastinate/sql/migrations`); they get
a revision of their own here when the pinned version is raised.
"""

from alembic import op
from procrastinate.schema import SchemaManager

revision = "0002_ingest"
down_revision = "0001_results"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE ingest_objects (
            bucket text NOT NULL,
            key text NOT NULL,
            source text NOT NULL,
            owner text,
            etag text,
            version_id text,
            size_bytes bigint,
            status text NOT NULL
                CHECK (status IN ('received', 'queued', 'running', 'ok', 'failed', 'removed')),
            attempts integer NOT NULL DEFAULT 0,
            error text,
            received_at timestamptz NOT NULL DEFAULT now(),
            queued_at timestamptz,
            started_at timestamptz,
            finished_at timestamptz,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (bucket, key)
        )
        """
    )
    op.execute("CREATE INDEX ingest_objects_owner_idx ON ingest_objects (owner, updated_at DESC)")
    op.execute("CREATE INDEX ingest_objects_status_idx ON ingest_objects (status, updated_at)")
    op.execute("CREATE UNIQUE INDEX ingest_objects_source_idx ON ingest_objects (source)")
    op.execute(
        """
        CREATE TABLE ingest_events (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            received_at timestamptz NOT NULL DEFAULT now(),
            event_name text,
            bucket text,
            key text,
            etag text,
            version_id text,
            disposition text NOT NULL
                CHECK (disposition IN ('accepted', 'duplicate', 'ignored', 'rejected', 'removed')),
            reason text,
            payload jsonb
        )
        """
    )
    op.execute("CREATE INDEX ingest_events_object_idx ON ingest_events (bucket, key, id)")
    op.execute("CREATE INDEX ingest_events_received_idx ON ingest_events (received_at)")
    # Sent as-is through the driver: the schema holds PL/pgSQL bodies that a bind-parameter
    # parser would mangle.
    op.get_bind().connection.driver_connection.execute(SchemaManager.get_schema())


def downgrade() -> None:
    op.execute("DROP TABLE ingest_events")
    op.execute("DROP TABLE ingest_objects")
    op.execute(
        """
        DO $$
        DECLARE item record;
        BEGIN
            FOR item IN
                SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = current_schema() AND c.relkind = 'r'
                  AND c.relname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.relname);
            END LOOP;
            FOR item IN
                SELECT p.oid::regprocedure AS signature FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE format('DROP ROUTINE IF EXISTS %s CASCADE', item.signature);
            END LOOP;
            FOR item IN
                SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\\_%'
                  AND t.typtype IN ('e', 'c')
            LOOP
                EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
            END LOOP;
        END
        $$
        """
    )
