"""Why an object failed, and how often its analysis lost its worker.

Revision ID: 0003_failure_kind
Revises: 0002_ingest
Create Date: 2026-12-01

`failure_kind` of a failed object: `file` (the file itself is bad: final until the object
changes), `poison` (the analysis killed or outlasted its worker twice: final too), `config`
(the deployment's settings or permissions), `internal` (a defect) and `transient` (outages
outlasted every attempt); the last three are retried by the next rescan. `worker_kills` and
`timeouts` count the runs of the current content that a dead worker or the job time budget cut
short; `lost_attempt` is the attempt last counted as a kill, so that several workers finding
the same dead job count it once.

Existing failed rows are classified from what the analysis recorded: a failed `job_summary`
row for the same ETag that is not an internal error means the file, "gave up after N attempts"
an outage, anything else a defect; all but the first are retried.
"""

from alembic import op

revision = "0003_failure_kind"
down_revision = "0002_ingest"
branch_labels = None
depends_on = None

KINDS = "('file', 'poison', 'config', 'internal', 'transient')"


def upgrade() -> None:
    op.execute(
        f"""
        ALTER TABLE ingest_objects
            ADD COLUMN failure_kind text CHECK (failure_kind IN {KINDS}),
            ADD COLUMN worker_kills integer NOT NULL DEFAULT 0,
            ADD COLUMN timeouts integer NOT NULL DEFAULT 0,
            ADD COLUMN lost_attempt integer
        """
    )
    op.execute(
        """
        UPDATE ingest_objects o SET failure_kind = CASE
            WHEN EXISTS (
                SELECT 1 FROM job_summary s
                WHERE s.source = o.source AND s.source_etag = o.etag AND s.status = 'failed'
                  AND coalesce(s.error, '') NOT LIKE 'internal error%'
            ) THEN 'file'
            WHEN o.error LIKE 'gave up after%' THEN 'transient'
            ELSE 'internal' END
        WHERE o.status = 'failed'
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE ingest_objects
            DROP COLUMN failure_kind, DROP COLUMN worker_kills, DROP COLUMN timeouts,
            DROP COLUMN lost_attempt
        """
    )
