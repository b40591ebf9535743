"""Refresh tokens remember their successor (sealed), so a replay within the grace window
gets the same successor instead of forking the session.

Revision ID: 0002_refresh_successor
Revises: 0001_api_accounts
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_refresh_successor"
down_revision = "0001_api_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_refresh_tokens", sa.Column("successor_seal", sa.String(128)))


def downgrade() -> None:
    op.drop_column("api_refresh_tokens", "successor_seal")
