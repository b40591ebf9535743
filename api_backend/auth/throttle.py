"""Throttling of password checks and registrations, from a ledger in the database.

The ledger has transactions of its own: an attempt is recorded (and committed) before the
slow password check starts, so concurrent guesses see each other, and a failure stays
recorded whatever the request's outcome. Workers share the ledger, so limits hold across
processes.

What slows an attacker without locking the owner out (OWASP Authentication Cheat Sheet):
- per (account, address) pair: LOGIN_MAX_FAILURES_PER_ACCOUNT failures, then 429 for that
  pair only; the owner logging in from another address is not affected;
- per address: LOGIN_MAX_FAILURES_PER_ADDRESS failures over all names, then 429;
- per account over all addresses (a distributed attack): past
  LOGIN_SLOWDOWN_AFTER_FAILURES failures, each attempt waits an exponentially growing delay
  (2, 4, 8 ... s, at most LOGIN_SLOWDOWN_MAX_S) after the account's latest failure: guessing
  slows to a crawl, the owner waits seconds, never the whole window.
Throttled attempts don't count, so hammering doesn't extend any of these. The client address
is the one `api.forwarded` resolves (X-Forwarded-For only from TRUSTED_PROXIES).
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

    def _lock(self, session: Session, key: str) -> None:
        if session.get_bind().dialect.name == "postgresql":
            # Serialise checks of one key so parallel attempts can't all slip through.
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})

    def _password_verdict(
        self, session: Session, key: str, client_ip: str, now: datetime
    ) -> tuple[float, str] | None:
        """(retry after seconds, scope) when this attempt must wait, else None."""
        settings, since = self._settings, now - self._window
        pair_n, pair_oldest = repo.count_pair_failures(session, key, client_ip, since)
        if pair_n >= settings.login_max_failures_per_account:
            return _retry_after(pair_oldest, self._window, now), "account_address"
        address_n, address_oldest = repo.count_address_attempts(
            session, client_ip, PASSWORD_KINDS, repo.FAILED, since
        )
        if address_n >= settings.login_max_failures_per_address:
            return _retry_after(address_oldest, self._window, now), "address"
        account_n, account_latest = repo.account_failures(session, key, since)
        excess = account_n - settings.login_slowdown_after_failures
        if excess >= 0 and account_latest is not None:
            delay_s = min(2.0 ** min(excess + 1, 30), settings.login_slowdown_max_s)
            wait_s = (account_latest - now).total_seconds() + delay_s
            if wait_s > 0:
                return wait_s, "account"
        return None

    def begin_password_check(self, kind: str, username: str, client_ip: str) -> int:
        """Record a pending attempt; raise 429 when the attempt must wait (see above)."""
        now = utcnow()
        key = account_key(username)
        with self._sessions.begin() as session:
            self._lock(session, key)
            repo.prune_attempts(session, now - 2 * self._window)
            verdict = self._password_verdict(session, key, client_ip, now)
            attempt = repo.add(
                session,
                AuthAttempt(
                    kind=kind,
                    account_key=key,
                    client_ip=client_ip,
                    outcome="pending" if verdict is None else "throttled",
                    created_at=now,
                ),
            )
            if verdict is not None:
                repo.audit(session, f"{kind}_throttled", client_ip=client_ip, scope=verdict[1])
        if verdict is not None:
            retry_after, scope = verdict
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
        """Count a registration attempt from `client_ip`, whatever its outcome (taken name,
        weak password, success); raise 429 past REGISTER_MAX_PER_ADDRESS. Called before the
        name is looked at, so a throttled address learns nothing about which names exist."""
        now = utcnow()
        with self._sessions.begin() as session:
            self._lock(session, f"register:{client_ip}")
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
