"""Throttling of password checks and registrations, from a ledger in the database.

The ledger has transactions of its own: an attempt is recorded (and committed) before the
slow password check starts, so concurrent guesses see each other, and a failure stays
recorded whatever the request's outcome. Throttled attempts don't count, so an attacker
can't keep a victim's account locked by hammering it. Workers share the ledger, so limits
hold across processes. Behind a proxy, run uvicorn with `--forwarded-allow-ips` so the
client address is the real one.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from ..core.config import Settings
from ..core.errors import TooManyRequests
from ..core.metrics import AUTH_EVENTS
from ..models import AuthAttempt, utcnow
from . import repository as repo

log = logging.getLogger(__name__)

PASSWORD_KINDS = ("login", "password_change")


def account_key(username: str) -> str:
    """The ledger keeps a digest, not the name someone typed (it may be a mistyped password)."""
    # surrogatepass: whatever a client sent (even a lone surrogate) gets a stable key.
    return hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()


def _retry_after(oldest: datetime | None, window: timedelta, now: datetime) -> float:
    if oldest is None:
        return window.total_seconds()
    return max(1.0, (oldest + window - now).total_seconds())


class Throttle:
    def __init__(self, settings: Settings, session_factory: sessionmaker[Session]):
        self._settings = settings
        self._sessions = session_factory
        self._window = timedelta(seconds=settings.login_window_s)

    def begin_password_check(self, kind: str, username: str, client_ip: str) -> int:
        """Record a pending attempt; raise 429 when the account or address is over its limit."""
        settings, now = self._settings, utcnow()
        since = now - self._window
        key = account_key(username)
        with self._sessions.begin() as session:
            if session.get_bind().dialect.name == "postgresql":
                # Serialise checks of one account so parallel guesses can't all slip through.
                session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})
            repo.prune_attempts(session, now - 2 * self._window)
            attempt = repo.add(
                session,
                AuthAttempt(
                    kind=kind,
                    account_key=key,
                    client_ip=client_ip,
                    outcome="pending",
                    created_at=now,
                ),
            )
            account_n, account_oldest = repo.count_account_failures(session, key, since)
            address_n, address_oldest = repo.count_address_attempts(
                session, client_ip, PASSWORD_KINDS, repo.FAILED, since
            )
            retry_after = None
            if account_n > settings.login_max_failures_per_account:
                retry_after, scope = _retry_after(account_oldest, self._window, now), "account"
            elif address_n > settings.login_max_failures_per_address:
                retry_after, scope = _retry_after(address_oldest, self._window, now), "address"
            if retry_after is not None:
                repo.set_attempt_outcome(session, attempt.id, "throttled")
                repo.audit(session, f"{kind}_throttled", client_ip=client_ip, scope=scope)
        if retry_after is not None:
            AUTH_EVENTS.labels(event=f"{kind}_throttled").inc()
            log.warning(
                "password check throttled",
                extra={"event": f"{kind}_throttled", "scope": scope, "client_ip": client_ip},
            )
            raise TooManyRequests(
                "too many failed attempts; try again later", retry_after_s=retry_after
            )
        return attempt.id

    def finish(self, attempt_id: int, outcome: str) -> None:
        with self._sessions.begin() as session:
            repo.set_attempt_outcome(session, attempt_id, outcome)

    def register_attempt(self, client_ip: str) -> None:
        """Count a registration from `client_ip`; raise 429 past REGISTER_MAX_PER_ADDRESS."""
        now = utcnow()
        with self._sessions.begin() as session:
            count, oldest = repo.count_address_attempts(
                session, client_ip, ("register",), ("success",), now - self._window
            )
            allowed = count < self._settings.register_max_per_address
            outcome = "success" if allowed else "throttled"
            repo.add(
                session,
                AuthAttempt(kind="register", client_ip=client_ip, outcome=outcome, created_at=now),
            )
            if not allowed:
                repo.audit(session, "register_throttled", client_ip=client_ip)
        if not allowed:
            AUTH_EVENTS.labels(event="register_throttled").inc()
            log.warning(
                "registration throttled",
                extra={"event": "register_throttled", "client_ip": client_ip},
            )
            raise TooManyRequests(
                "too many registrations from this address; try again later",
                retry_after_s=_retry_after(oldest, self._window, now),
            )
