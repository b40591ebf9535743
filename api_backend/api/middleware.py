"""One pure-ASGI middleware: refuses credentials in URLs, NUL in URLs and oversized bodies,
marks responses `nosniff`, and records request metrics."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..auth.legacy import DEPRECATION_HEADER, LEGACY_QUERY, is_legacy_query, refused_in_url
from ..core.errors import error_response
from ..core.metrics import HTTP_LATENCY, HTTP_REQUESTS

# Passwords and tokens must travel in bodies or headers: URLs end up in proxy logs, browser
# history and Referer headers. `p` and `rid` are the query names older clients used for /auth.
CREDENTIAL_PARAMS = frozenset(
    {
        "password",
        "passwd",
        "current_password",
        "new_password",
        "refresh",
        "refresh_token",
        "access_token",
        "access",
    }
)
AUTH_ONLY_PARAMS = frozenset({"p", "rid"})
_MARKERS = (b"pass", b"refresh", b"access", b"p=", b"rid=")
# Every body this API takes is a few hundred bytes; uploads go to the object store directly.
MAX_BODY_BYTES = 64 * 1024
_NOSNIFF = (b"x-content-type-options", b"nosniff")


class _BodyTooLarge(HTTPException):
    # An HTTPException, because FastAPI turns any other error while reading a body into a
    # generic 400; this way the client learns the real reason.
    def __init__(self) -> None:
        super().__init__(413, f"request body is larger than {MAX_BODY_BYTES} bytes")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(
        413, f"request body is larger than {MAX_BODY_BYTES} bytes", "too_large"
    )
    await response(scope, receive, send)


def _names(query_string: bytes) -> set[str]:
    return {name.lower() for name, _ in parse_qsl(query_string.decode("latin-1"), True)}


def credential_in_query(path: str, query_string: bytes, legacy: bool = False) -> str | None:
    """The offending parameter name, if the query string carries a credential (with
    `legacy`, the origin client's old forms on /auth pass)."""
    if not query_string or not any(marker in query_string for marker in _MARKERS):
        return None
    names = _names(query_string)
    if legacy and is_legacy_query(path, names):
        return None
    found = names & CREDENTIAL_PARAMS
    if path.startswith("/auth/"):
        found |= names & AUTH_ONLY_PARAMS
    return min(found) if found else None


def nul_in_url(scope: Scope) -> bool:
    """NUL can't be stored (PostgreSQL text) or be part of any name: refused up front."""
    return "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")


def _is_deprecated_form(path: str, query_string: bytes) -> bool:
    if path == "/storage/presign/upload":
        return b"benchmark_name=" in query_string
    return path in LEGACY_QUERY and bool(_names(query_string) & LEGACY_QUERY[path])


class GuardAndMeasure:
    def __init__(self, app: ASGIApp, legacy_client_compat: bool = False):
        self.app = app
        self.legacy = legacy_client_compat
        self._children: dict[tuple[str, str, int], tuple] = {}

    def _record(self, method: str, route: str, status: int, seconds: float) -> None:
        # Label lookups cost more than the updates: keep the children per label set.
        children = self._children.get((method, route, status))
        if children is None:
            children = (
                HTTP_REQUESTS.labels(method, route, str(status)),
                HTTP_LATENCY.labels(method, route),
            )
            self._children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query_string = scope.get("query_string", b"")
        name = credential_in_query(scope["path"], query_string, self.legacy)
        if name is not None:
            message = refused_in_url(scope["path"], name)
            await error_response(400, message, "credentials_in_url")(scope, receive, send)
            return
        if nul_in_url(scope):
            response = error_response(
                422, "the URL contains a NUL character (%00)", "invalid_character"
            )
            await response(scope, receive, send)
            return
        deprecated = self.legacy and _is_deprecated_form(scope["path"], query_string)
        declared = _content_length(scope)
        if declared is not None and declared > MAX_BODY_BYTES:
            await _too_large(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False
        received = 0

        async def limited_receive() -> Message:
            # Bodies without a Content-Length (chunked) are counted as they arrive.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    raise _BodyTooLarge
            return message

        async def send_and_record(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                extra = [_NOSNIFF, DEPRECATION_HEADER] if deprecated else [_NOSNIFF]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_and_record)
        except _BodyTooLarge:
            if response_started:  # nothing sensible left to send
                raise
            status = 413
            await _too_large(scope, receive, send)
        finally:
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            self._record(scope["method"], template, status, time.perf_counter() - started)
