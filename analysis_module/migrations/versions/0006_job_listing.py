"""Indexes for listing a user's jobs a page at a time (the API's GET /jobs).

Revision ID: 0006_job_listing
Revises: 0005_jobs
Create Date: 2026-12-01

- `job_summary (owner, COALESCE(start_time, analysed_at) DESC, source)`: the listing's order,
  so a page (and the next one, from its cursor) is read in order from the index instead of
  sorting every job of the owner.
- `ingest_objects (owner)` for objects not yet analysed (received, queued, running, failed):
  the jobs still waiting for their analysis are found among those alone, not among every
  object the owner ever uploaded.
"""

from alembic import op

revision = "0006_job_listing"
down_revision = "0005_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX job_summary_owner_listing_idx ON job_summary "
        "(owner, (COALESCE(start_time, analysed_at)) DESC, source)"
    )
    op.execute(
        "CREATE INDEX ingest_objects_owner_unanalysed_idx ON ingest_objects (owner) "
        "WHERE status IN ('received', 'queued', 'running', 'failed')"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ingest_objects_owner_unanalysed_idx")
    op.execute("DROP INDEX job_summary_owner_listing_idx")
