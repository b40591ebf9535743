"""Accounts, sessions, refresh tokens, audit events and the login-attempt ledger.

Revision ID: 0001_api_accounts
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_api_accounts"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    _create_users()
    _create_sessions()
    _create_refresh_tokens()
    _create_audit_events()
    _create_auth_attempts()


def _create_users() -> None:
    """Accounts: a random public id (the owner's namespace) and a unique username."""
    op.create_table(
        "api_users",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("public_id", sa.String(32), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
        _ts("created_at"),
        _ts("password_changed_at"),
        sa.PrimaryKeyConstraint("id", name="pk_api_users"),
        sa.UniqueConstraint("public_id", name="uq_api_users_public_id"),
        sa.UniqueConstraint("username", name="uq_api_users_username"),
    )


def _create_sessions() -> None:
    """Login sessions of a user, with their expiry and revocation."""
    op.create_table(
        "api_sessions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("last_refreshed_at", nullable=True),
        _ts("revoked_at", nullable=True),
        sa.Column("revoked_reason", sa.String(64)),
        sa.Column("client_ip", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_api_sessions"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["api_users.id"],
            ondelete="CASCADE",
            name="fk_api_sessions_user_id_api_users",
        ),
    )
    op.create_index("ix_api_sessions_user_id", "api_sessions", ["user_id"])
    op.create_index("ix_api_sessions_revoked_at", "api_sessions", ["revoked_at"])


def _create_refresh_tokens() -> None:
    """Refresh tokens of a session, stored as hashes, with when each was used."""
    op.create_table(
        "api_refresh_tokens",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_refresh_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_refresh_tokens_token_hash"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["api_sessions.id"],
            ondelete="CASCADE",
            name="fk_api_refresh_tokens_session_id_api_sessions",
        ),
    )
    op.create_index("ix_api_refresh_tokens_session_id", "api_refresh_tokens", ["session_id"])


def _create_audit_events() -> None:
    """The audit log: the event, its user, the client address and details, by time."""
    op.create_table(
        "api_audit_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        _ts("created_at"),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("user_id", BigId),
        sa.Column("client_ip", sa.String(64)),
        sa.Column("detail", sa.JSON),
        sa.PrimaryKeyConstraint("id", name="pk_api_audit_events"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["api_users.id"],
            ondelete="SET NULL",
            name="fk_api_audit_events_user_id_api_users",
        ),
    )
    op.create_index("ix_api_audit_events_created_at", "api_audit_events", ["created_at"])
    op.create_index("ix_api_audit_events_event", "api_audit_events", ["event"])
    op.create_index("ix_api_audit_events_user_id", "api_audit_events", ["user_id"])


def _create_auth_attempts() -> None:
    """The ledger of login and registration attempts (by account and by address) the
    throttle reads."""
    op.create_table(
        "api_auth_attempts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        _ts("created_at"),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("account_key", sa.String(64)),
        sa.Column("client_ip", sa.String(64)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_auth_attempts"),
    )
    op.create_index("ix_api_auth_attempts_created_at", "api_auth_attempts", ["created_at"])
    op.create_index(
        "ix_api_auth_attempts_account", "api_auth_attempts", ["account_key", "created_at"]
    )
    op.create_index(
        "ix_api_auth_attempts_address", "api_auth_attempts", ["client_ip", "kind", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("api_auth_attempts")
    op.drop_table("api_audit_events")
    op.drop_table("api_refresh_tokens")
    op.drop_table("api_sessions")
    op.drop_table("api_users")
