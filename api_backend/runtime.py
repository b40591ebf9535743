"""Everything the app holds while it runs, built once at start-up from the settings."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .auth.revocation import RevokedSessions
from .auth.throttle import Throttle
from .core.config import Settings
from .core.security import AccessTokenVerifier, PasswordHashing
from .db import make_engine, make_session_factory, wait_for_database
from .migrate import UPGRADE_COMMAND, pending_revisions, upgrade_database
from .storage.quota import QuotaLedger
from .storage.s3 import ObjectStore
from .storage.sigv4 import Presigner

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    hashing: PasswordHashing
    password_checks: asyncio.Semaphore  # see api.deps.password_check_slot
    database_slots: asyncio.Semaphore  # see api.deps.get_session
    throttle: Throttle
    revoked: RevokedSessions
    verifier: AccessTokenVerifier
    presigner: Presigner
    store: ObjectStore
    trusted_proxies: tuple  # networks whose X-Forwarded-For is believed (api.forwarded)
    quota: QuotaLedger

    def close(self) -> None:
        self.hashing.close()
        self.engine.dispose()


def prepare_database(settings: Settings, engine: Engine) -> None:
    """Wait for the database, then apply pending migrations (or refuse to start)."""
    wait_for_database(engine, settings.db_wait_s)
    if settings.migrate_on_start:
        upgrade_database(engine.url)
        return
    pending = pending_revisions(engine.url)
    if pending:
        raise RuntimeError(
            f"the database schema is behind ({len(pending)} migration(s) pending: "
            f"{', '.join(pending)}); apply them with `{UPGRADE_COMMAND}` "
            "or set MIGRATE_ON_START=true"
        )


def build_runtime(settings: Settings) -> Runtime:
    """Blocking (database wait, migrations, a first Argon2 hash): run off the event loop."""
    engine = make_engine(settings)
    prepare_database(settings, engine)
    sessions = make_session_factory(engine)
    access_key, secret_key = settings.s3_credentials()
    presigner = Presigner(
        settings.s3_public_endpoint(), settings.minio_region, access_key, secret_key
    )
    store = ObjectStore(settings)
    revoked = RevokedSessions(settings, sessions)
    revoked.poll_once()
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        hashing=PasswordHashing(settings),
        password_checks=asyncio.Semaphore(2 * settings.password_hash_threads),
        database_slots=asyncio.Semaphore(2 * settings.db_pool_size),  # pool + overflow
        throttle=Throttle(settings, sessions),
        revoked=revoked,
        verifier=AccessTokenVerifier(settings),
        presigner=presigner,
        store=store,
        trusted_proxies=settings.trusted_proxy_networks(),
        quota=QuotaLedger(settings, store),
    )
