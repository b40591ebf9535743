"""Jobs by start time, over every user (the overview dashboard's tables).

Revision ID: 0009_job_start_index
Revises: 0008_results_schema
Create Date: 2026-12-02

- `results.job_summary` gets an index on `start_time`. The overview's *Jobs* table and the
  benchmark dashboard's *Runs* show the newest 500 jobs of every user in the time range; with
  the index they read those jobs in start-time order and stop, where they sorted every job in
  the range before (docs/bench-scale.md: 143 ms at 100,000 jobs, 7.5 ms with it).

The index is built in one statement, which holds writes to `job_summary` back until it is
built: well under a second at 100,000 jobs.
"""

from alembic import op

revision = "0009_job_start_index"
down_revision = "0008_results_schema"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX job_summary_start_time_idx ON results.job_summary (start_time)")


def downgrade() -> None:
    op.execute("DROP INDEX results.job_summary_start_time_idx")
