"""Which sessions were revoked recently enough that their access tokens may still be alive.

Access tokens are checked without a database round trip (signature, claims, expiry); what
they can't show is a logout, a password change or a refresh-token replay since they were
issued. Each worker keeps the set of sessions revoked within the last access-token lifetime
and re-reads it every REVOCATION_POLL_S (default 1 s): a revocation is effective at once in
the worker that made it and within that interval in every other worker. If the database is
unreachable the last known set stays in force.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from datetime import timedelta

import anyio
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..core.config import Settings
from ..core.security import CLOCK_SKEW_S
from ..models import utcnow
from . import repository as repo

log = logging.getLogger(__name__)


class RevokedSessions:
    def __init__(self, settings: Settings, session_factory: sessionmaker[Session]):
        self._sessions = session_factory
        self._poll_s = settings.revocation_poll_s
        # Long enough to cover every access token that can still be alive, with slack for
        # transactions that commit a little after their revoked_at timestamp.
        self._horizon = timedelta(seconds=settings.access_token_ttl_s + CLOCK_SKEW_S + 60)
        self._ids: frozenset[str] = frozenset()
        self._local: dict[str, float] = {}

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._ids

    def add(self, session_ids: Iterable[str]) -> None:
        """Revocations made by this process: effective immediately, kept until the next
        polls are sure to see them committed."""
        now = time.monotonic()
        ids = set(session_ids)
        for sid in ids:
            self._local[sid] = now
        self._ids = self._ids | ids  # rebinding keeps readers on other threads safe

    def poll_once(self) -> None:
        with self._sessions() as session:
            polled = repo.recently_revoked_session_ids(session, utcnow() - self._horizon)
        keep_after = time.monotonic() - self._horizon.total_seconds()
        self._local = {sid: t for sid, t in self._local.items() if t > keep_after}
        self._ids = frozenset(polled | self._local.keys())

    async def run(self) -> None:
        while True:
            try:
                await anyio.to_thread.run_sync(self.poll_once)
            except SQLAlchemyError as exc:
                log.warning("could not refresh revoked sessions: %s", type(exc).__name__)
            await asyncio.sleep(self._poll_s)
