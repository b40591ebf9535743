"""What a route can ask for, by name: `SessionDep`, `CurrentUser`, `SettingsDep`, ...

Cheap dependencies are `async def` so they run on the event loop instead of costing a
thread hop each; `get_session` is sync (SQLAlchemy's blocking session).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from ..auth.principal import Principal
from ..auth.service import AuthService
from ..core.config import Settings
from ..core.errors import AppError, Unauthorized
from ..core.security import InvalidToken
from ..runtime import Runtime
from ..storage.service import StorageService

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/auth/password",
    auto_error=False,
    description="Access token from POST /auth/password (or /auth/register, /auth/refresh).",
)


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the route returns (before the response
    is sent), rolled back on error unless the error asks to keep its changes."""
    session = request.app.state.runtime.sessions()
    try:
        yield session
        session.commit()
    except AppError as exc:
        if exc.keep_changes:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientAddress = Annotated[str, Depends(client_address)]


def _principal(runtime: Runtime, token: str) -> Principal:
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


async def current_principal(
    runtime: RuntimeDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    if not token:
        raise Unauthorized("not authenticated: send `Authorization: Bearer <access token>`")
    return _principal(runtime, token)


async def optional_principal(
    runtime: RuntimeDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal | None:
    return _principal(runtime, token) if token else None


CurrentUser = Annotated[Principal, Depends(current_principal)]
OptionalUser = Annotated[Principal | None, Depends(optional_principal)]


async def get_storage(runtime: RuntimeDep) -> StorageService:
    return runtime.storage


StorageDep = Annotated[StorageService, Depends(get_storage)]


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
