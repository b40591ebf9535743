"""A user's analysed jobs counted from an index (GET /jobs's `total`).

Revision ID: 0010_job_owner_status_index
Revises: 0009_job_start_index
Create Date: 2026-12-04

- `results.job_summary` gets an index on `(owner, status)`. `GET /jobs` counts the caller's
  jobs with status ok or failed on every page; with the index that count reads only the index
  where the table's visibility map allows (autovacuum keeps it), where it scanned the table
  before (docs/bench-scale.md: 12 ms to 4 ms for a user with 10,000 of 30,000 jobs).

The index is built in one statement, which holds writes to `job_summary` back until it is
built: well under a second at 100,000 jobs.
"""

from alembic import op

revision = "0010_job_owner_status_index"
down_revision = "0009_job_start_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX job_summary_owner_status_idx ON results.job_summary (owner, status)")


def downgrade() -> None:
    op.execute("DROP INDEX results.job_summary_owner_status_idx")
