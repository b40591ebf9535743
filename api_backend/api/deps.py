"""What a route can ask for, by name: `SessionDep`, `CurrentUser`, `SettingsDep`, ...

Dependencies are `async def` so they run on the event loop instead of costing a thread hop
each; the blocking work (SQLAlchemy, Argon2, boto3) runs on worker threads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from ..auth.principal import Principal
from ..auth.service import AuthService
from ..core.config import Settings
from ..core.errors import AppError, Unauthorized
from ..core.security import InvalidToken
from ..runtime import Runtime
from ..storage.service import StorageService
from . import forwarded


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _end_transaction(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: committed when the route returns (before the response
    is sent), rolled back on error unless the error asks to keep its changes.

    Requests first wait on the event loop for one of as many slots as the pool has
    connections, so a burst queues instead of holding worker threads that then time out
    waiting for a connection. Creating a session does no I/O; commit and close talk to the
    database and run on a worker thread (one hop, not one per step).
    """
    runtime = request.app.state.runtime
    async with runtime.database_slots:
        session = runtime.sessions()
        try:
            yield session
        except AppError as exc:
            await run_in_threadpool(_end_transaction, session, exc.keep_changes)
            raise
        except BaseException:
            await run_in_threadpool(_end_transaction, session, False)
            raise
        await run_in_threadpool(_end_transaction, session, True)


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def password_check_slot(request: Request) -> AsyncIterator[None]:
    """Routes that hash a password first wait here, on the event loop, for one of a few
    slots (twice PASSWORD_HASH_THREADS): a burst of logins then queues without holding
    the worker threads every other route needs."""
    async with request.app.state.runtime.password_checks:
        yield


PasswordCheckSlot = Depends(password_check_slot, scope="function")


async def client_address(request: Request) -> str:
    runtime: Runtime = request.app.state.runtime
    return forwarded.client_address(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        runtime.trusted_proxies,
    )


ClientAddress = Annotated[str, Depends(client_address)]


class BearerPrincipal(OAuth2PasswordBearer):
    """`Authorization: Bearer <access token>` -> Principal, with no database round trip:
    signature, claims and expiry from the token, revocation from the in-memory set.

    One class-based dependency (documented in OpenAPI as the OAuth2 password flow) rather
    than a chain: every dependency FastAPI resolves costs time on the hottest routes.
    """

    def __init__(self, *, required: bool):
        super().__init__(
            tokenUrl="/auth/password",
            auto_error=False,
            scheme_name="OAuth2PasswordBearer",
            description="Access token from POST /auth/password, /auth/register or /auth/refresh.",
        )
        self.required = required

    async def __call__(self, request: Request) -> Principal | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            if self.required:
                raise Unauthorized("not authenticated: send `Authorization: Bearer <access token>`")
            return None
        runtime: Runtime = request.app.state.runtime
        try:
            claims = runtime.verifier.verify(token)
        except InvalidToken as exc:
            raise Unauthorized(str(exc), code="invalid_token") from None
        if claims.session_id in runtime.revoked:
            raise Unauthorized("this session has ended; log in again", code="invalid_token")
        return Principal(
            public_id=claims.subject,
            session_id=claims.session_id,
            namespace=runtime.settings.minio_bucket_prefix + claims.subject,
        )


class BearerStorage(BearerPrincipal):
    """The caller's storage, bound to their namespace (authentication included)."""

    async def __call__(self, request: Request) -> StorageService:
        principal = await super().__call__(request)
        runtime: Runtime = request.app.state.runtime
        return StorageService(
            runtime.settings, runtime.presigner, runtime.store, principal.namespace, runtime.quota
        )


CurrentUser = Annotated[Principal, Depends(BearerPrincipal(required=True))]
OptionalUser = Annotated[Principal | None, Depends(BearerPrincipal(required=False))]
UserStorage = Annotated[StorageService, Depends(BearerStorage(required=True))]


async def get_auth_service(
    session: SessionDep, runtime: RuntimeDep, client_ip: ClientAddress
) -> AuthService:
    return AuthService(
        session=session,
        settings=runtime.settings,
        hashing=runtime.hashing,
        throttle=runtime.throttle,
        revoked=runtime.revoked,
        client_ip=client_ip,
    )


AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]
