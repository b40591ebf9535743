"""The figure of merit an upload gives its job (`x-amz-meta-work`, docs/ingest.md).

Revision ID: 0007_upload_work
Revises: 0006_job_listing
Create Date: 2026-12-02

- `ingest_objects` gets `work`: what the object's upload said (`UNIT=VALUE`, as the API's
  `work` or the CLI's `--work` take it), read when the object arrives. The job's analysis
  takes its figure of merit from its files' values.

Rows written before keep a null `work`: their jobs have no given figure until a file of theirs
is uploaded again.
"""

from alembic import op

revision = "0007_upload_work"
down_revision = "0006_job_listing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE ingest_objects ADD COLUMN work text")


def downgrade() -> None:
    op.execute("ALTER TABLE ingest_objects DROP COLUMN work")
