"""HTTP layer of /auth: parse, call the service, answer. Credentials only in bodies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ValidationError

from ..api.deps import AuthServiceDep, CurrentUser, OptionalUser, PasswordCheckSlot
from ..core.errors import BadRequest, UnsupportedMediaType, error_responses
from ..core.strict_json import StrictJSONRoute, check_strings, strict_loads
from . import legacy
from .schemas import (
    LoginRequest,
    LogoutRequest,
    PasswordChangeRequest,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    TokenResponse,
    UserPublic,
)

router = APIRouter(prefix="/auth", tags=["auth"], route_class=StrictJSONRoute)

# RFC 6749 section 5.1: token responses must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _body_schema(model: type[BaseModel], form_required: list[str]) -> dict[str, Any]:
    schema = model.model_json_schema()
    form = {
        "type": "object",
        "properties": {name: {"type": "string"} for name in schema["properties"]},
        "required": form_required,
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": form},
                "application/json": {"schema": schema},
            },
        }
    }


async def _read_body(request: Request, model: type[BaseModel]) -> Any:
    """A JSON or urlencoded form body validated as `model`; 400/415 with a reason otherwise."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()  # size capped by the middleware
    try:
        if media_type == "application/json":
            data = strict_loads(raw or b"null")
        elif media_type == "application/x-www-form-urlencoded":
            data = dict((await request.form()).items())
            check_strings(data)
        else:
            raise UnsupportedMediaType(
                "send application/x-www-form-urlencoded (OAuth2) or application/json"
            )
        return model.model_validate(data)
    except (ValueError, ValidationError) as exc:
        errors = exc.errors() if isinstance(exc, ValidationError) else None
        where = ", ".join(".".join(map(str, e["loc"])) or "body" for e in errors or [])
        raise BadRequest(f"invalid request body{': ' + where if where else ''}") from None


async def login_body(request: Request) -> LoginRequest:
    body = legacy.login_from_query(request) or await _read_body(request, LoginRequest)
    if body.grant_type not in (None, "password"):
        raise BadRequest('grant_type must be "password"', code="unsupported_grant_type")
    return body


async def refresh_body(request: Request) -> RefreshRequest:
    body = legacy.refresh_from_query(request) or await _read_body(request, RefreshRequest)
    if body.grant_type not in (None, "refresh_token"):
        raise BadRequest('grant_type must be "refresh_token"', code="unsupported_grant_type")
    return body


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=RegisterResponse,
    summary="Create an account",
    dependencies=[PasswordCheckSlot],
    description=(
        "Creates an account and logs it in. The password policy follows NIST SP 800-63B-4: "
        "a minimum length (PASSWORD_MIN_LENGTH, default 15), any characters, no composition "
        "rules; common and breached passwords are refused. Attempts per client address "
        "are limited (REGISTER_MAX_PER_ADDRESS, 429), taken names included."
    ),
    responses=error_responses(400, 409, 429),
)
def register(body: RegisterRequest, auth: AuthServiceDep, response: Response):
    response.headers.update(NO_STORE)
    return auth.register(body.username, body.password)


@router.post(
    "/password",
    response_model=TokenResponse,
    summary="Log in (OAuth2 password grant)",
    dependencies=[PasswordCheckSlot],
    description=(
        "Credentials in the body only: `application/x-www-form-urlencoded` (OAuth2: "
        "`grant_type=password&username=...&password=...`) or JSON. A password in the URL is "
        "refused with 400 (accepted as `?u=&p=`, deprecated, only with "
        "LEGACY_CLIENT_COMPAT=true). Unknown user and wrong password answer the same 401. "
        "Repeated failures for an account from one client address, or from one address "
        "overall, answer 429 with `Retry-After`; many failures of an account from everywhere "
        "slow its logins down (seconds, never a lock-out of the owner)."
    ),
    openapi_extra=_body_schema(LoginRequest, ["username", "password"]),
    responses=error_responses(400, 401, 415, 429),
)
def login(
    body: Annotated[LoginRequest, Depends(login_body)], auth: AuthServiceDep, response: Response
):
    response.headers.update(NO_STORE)
    return auth.login(body.username, body.password)


@router.post(
    "/refresh",
    response_model=TokenResponse,
    summary="Exchange a refresh token for new tokens",
    description=(
        "Rotates the refresh token: each one works once. Sending a used one again within a "
        "short grace window (REFRESH_REUSE_GRACE_S, a lost answer) returns the same new "
        "refresh token as the first time; after it, or once that one is used, the whole "
        "session ends. `?rid=` is accepted instead of a body (deprecated) only with "
        "LEGACY_CLIENT_COMPAT=true."
    ),
    openapi_extra=_body_schema(RefreshRequest, ["refresh_token"]),
    responses=error_responses(400, 401, 415),
)
def refresh(
    body: Annotated[RefreshRequest, Depends(refresh_body)],
    auth: AuthServiceDep,
    response: Response,
):
    response.headers.update(NO_STORE)
    return auth.refresh(body.token)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End this session (or all sessions)",
    description=(
        "Authenticate with the access token, the refresh token in the body, or both. The "
        "session's access and refresh tokens stop working (in every worker within "
        "REVOCATION_POLL_S)."
    ),
    responses=error_responses(401),
)
def logout(auth: AuthServiceDep, principal: OptionalUser, body: LogoutRequest | None = None):
    body = body or LogoutRequest()
    auth.logout(principal, body.token, body.all_sessions)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/password/change",
    response_model=TokenResponse,
    summary="Change the password",
    dependencies=[PasswordCheckSlot],
    description="Ends every session of the account and returns tokens of a new one.",
    responses=error_responses(400, 401, 429),
)
def change_password(
    body: PasswordChangeRequest, user: CurrentUser, auth: AuthServiceDep, response: Response
):
    response.headers.update(NO_STORE)
    return auth.change_password(user, body.current_password, body.new_password)


@router.get(
    "/me",
    response_model=UserPublic,
    summary="The account behind the access token",
    responses=error_responses(401),
)
def me(user: CurrentUser, auth: AuthServiceDep):
    return auth.me(user)
