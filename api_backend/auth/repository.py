"""Queries on accounts, sessions, refresh tokens, audit events and the attempt ledger.
Functions here only read, add and flush; committing is the request's (or the ledger's) job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..models import AuditEvent, AuthAttempt, AuthSession, RefreshToken, User


def user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def user_by_public_id(session: Session, public_id: str) -> User | None:
    return session.scalar(select(User).where(User.public_id == public_id))


def add(session: Session, row: Any) -> Any:
    session.add(row)
    session.flush()
    return row


def refresh_token_for_update(session: Session, token_hash: str) -> RefreshToken | None:
    return session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    )


def refresh_token_by_digest(session: Session, token_hash: str) -> RefreshToken | None:
    """Without a lock: a replay only reads its successor (locking it could deadlock with a
    refresh of the successor, which locks it before the session)."""
    return session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))


def session_for_update(session: Session, session_id: str) -> AuthSession | None:
    return session.scalar(select(AuthSession).where(AuthSession.id == session_id).with_for_update())


def revoke_sessions(
    session: Session, *, user_id: int, now: datetime, reason: str, session_id: str | None = None
) -> list[str]:
    """Revoke one session (or all of a user's); returns the ids that were still active."""
    conditions = [AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)]
    if session_id is not None:
        conditions.append(AuthSession.id == session_id)
    ids = list(session.scalars(select(AuthSession.id).where(*conditions)))
    if ids:
        session.execute(
            update(AuthSession)
            .where(AuthSession.id.in_(ids))
            .values(revoked_at=now, revoked_reason=reason)
        )
    return ids


def recently_revoked_session_ids(session: Session, since: datetime) -> set[str]:
    return set(session.scalars(select(AuthSession.id).where(AuthSession.revoked_at >= since)))


def audit(
    session: Session,
    event: str,
    *,
    user_id: int | None = None,
    client_ip: str | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEvent(event=event, user_id=user_id, client_ip=client_ip, detail=detail or None)
    )


# Attempt ledger -------------------------------------------------------------------------

FAILED = ("pending", "failure")


def count_pair_failures(session: Session, account_key: str, client_ip: str, since: datetime):
    """(count, oldest created_at) of failed or unfinished checks of an account from one address."""
    return session.execute(
        select(func.count(), func.min(AuthAttempt.created_at)).where(
            AuthAttempt.account_key == account_key,
            AuthAttempt.client_ip == client_ip,
            AuthAttempt.created_at >= since,
            AuthAttempt.outcome.in_(FAILED),
        )
    ).one()


def account_failures(session: Session, account_key: str, since: datetime):
    """(count, latest created_at) of failed or unfinished checks of an account, any address."""
    return session.execute(
        select(func.count(), func.max(AuthAttempt.created_at)).where(
            AuthAttempt.account_key == account_key,
            AuthAttempt.created_at >= since,
            AuthAttempt.outcome.in_(FAILED),
        )
    ).one()


def count_address_attempts(
    session: Session, client_ip: str, kinds: tuple[str, ...], outcomes: tuple[str, ...], since
):
    return session.execute(
        select(func.count(), func.min(AuthAttempt.created_at)).where(
            AuthAttempt.client_ip == client_ip,
            AuthAttempt.kind.in_(kinds),
            AuthAttempt.created_at >= since,
            AuthAttempt.outcome.in_(outcomes),
        )
    ).one()


def set_attempt_outcome(session: Session, attempt_id: int, outcome: str) -> None:
    session.execute(update(AuthAttempt).where(AuthAttempt.id == attempt_id).values(outcome=outcome))


def prune_attempts(session: Session, before: datetime) -> None:
    session.execute(delete(AuthAttempt).where(AuthAttempt.created_at < before))
