"""How many task values of a job were Slurm sentinels or impossible, and were left null.

Revision ID: 0004_task_sentinels
Revises: 0003_failure_kind
Create Date: 2026-12-01

`task_sentinel_values` is appended to `job_summary` and `job_step_node` (the analysis inserts
rows positionally, in the column order of pipeline_core/schema.py, where it is the last metric).
Rows analysed before have no count: null, not 0.
"""

from alembic import op

revision = "0004_task_sentinels"
down_revision = "0003_failure_kind"
branch_labels = None
depends_on = None

TABLES = ("job_summary", "job_step_node")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN task_sentinel_values bigint")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN task_sentinel_values")
