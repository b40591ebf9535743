"""Errors that carry their HTTP status; one handler renders them all as `{"detail", "code"}`."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """The body of every error this API answers (422 validation errors keep FastAPI's form)."""

    detail: str = Field(examples=["Incorrect username or password"])
    code: str = Field(examples=["invalid_credentials"])


class AppError(Exception):
    """A failure a client can act on. `keep_changes` commits the request's writes anyway
    (e.g. a refresh-token replay revokes the session and still answers 401)."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        keep_changes: bool = False,
    ):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.headers = dict(headers or {})
        self.keep_changes = keep_changes


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, detail: str, **kwargs):
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Unprocessable(AppError):
    """A well-formed request whose value can't be used (e.g. a date that isn't ISO 8601)."""

    status_code = 422
    code = "invalid_value"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "too_large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"

    def __init__(self, detail: str, *, retry_after_s: float, **kwargs):
        seconds = max(1, math.ceil(retry_after_s))
        kwargs.setdefault("headers", {"Retry-After": str(seconds)})
        super().__init__(detail, **kwargs)
        self.retry_after_s = seconds


class ServiceUnavailable(AppError):
    status_code = 503
    code = "unavailable"


def error_response(status_code: int, detail: str, code: str, headers=None) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status_code, headers=headers)


async def _render_app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_response(exc.status_code, exc.detail, exc.code, exc.headers)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


async def _render_http_error(_request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (unknown route, wrong method, oversized body) in our shape."""
    assert isinstance(exc, StarletteHTTPException)
    code = getattr(exc, "code", None) or _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, str(exc.detail), code, exc.headers)


def _printable(value: object) -> str | int:
    """A `loc` part or message that JSON can carry: unpaired surrogates become escapes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


async def _render_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 shape without `input`, `ctx` and `url`: the submitted values (passwords,
    tokens, NaN, unpaired surrogates) are never echoed, so rendering can't fail either."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "type": _printable(error.get("type", "value_error")),
            "loc": [_printable(part) for part in error.get("loc", ())],
            "msg": _printable(error.get("msg", "invalid value")),
        }
        for error in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


async def _render_database_error(_request: Request, exc: Exception) -> JSONResponse:
    # Connection lost, pool exhausted, lock or serialisation timeouts: retrying may help.
    log.error("database error: %s", type(exc).__name__)
    return error_response(503, "the database is unavailable; try again later", "unavailable")


def install_error_handler(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _render_app_error)
    app.add_exception_handler(StarletteHTTPException, _render_http_error)
    app.add_exception_handler(RequestValidationError, _render_validation_error)
    app.add_exception_handler(OperationalError, _render_database_error)
    app.add_exception_handler(SQLAlchemyTimeoutError, _render_database_error)


def error_responses(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI `responses` entries for the listed error statuses."""
    descriptions = {
        400: "Malformed or refused input",
        401: "Missing, invalid, expired or revoked credentials",
        404: "Not found (also for objects and jobs of other users)",
        409: "Conflict",
        413: "Too large",
        415: "Unsupported content type",
        422: "A well-formed value that can't be used",
        429: "Too many attempts; retry after `Retry-After` seconds",
        503: "A dependency (database or object store) is unreachable",
    }
    return {s: {"model": ErrorBody, "description": descriptions[s]} for s in statuses}
