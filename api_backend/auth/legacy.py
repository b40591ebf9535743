"""The origin client's old request forms, accepted only with LEGACY_CLIENT_COMPAT=true.

That client logs in with `POST /auth/password?u=<name>&p=<password>`, refreshes with
`POST /auth/refresh?rid=<refresh token>` and may name a benchmark on presign upload
(`benchmark_name=`). Credentials in a URL end up in proxy logs and browser history, so the
form is off by default; when on, the same models, throttling and checks apply as for bodies,
every such response carries `Deprecation`, and the values never reach a log line (the access
log drops query strings, `core/logging.py`), a metric label or an error body.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import Request
from pydantic import ValidationError

from ..core.errors import BadRequest
from .schemas import LoginRequest, RefreshRequest

SETTING = "LEGACY_CLIENT_COMPAT"
# RFC 9745: deprecated since 2026-12-01T00:00:00Z.
DEPRECATION_HEADER = (b"deprecation", b"@1796083200")
LEGACY_QUERY = {
    "/auth/password": frozenset({"u", "p"}),
    "/auth/refresh": frozenset({"rid"}),
}
BODY_FORMS = {
    "/auth/password": (
        "POST /auth/password with the form grant_type=password&username=...&password=... "
        'or JSON {"username": ..., "password": ...}'
    ),
    "/auth/refresh": 'POST /auth/refresh with JSON {"refresh_token": ...}',
}


def is_legacy_query(path: str, names: Iterable[str]) -> bool:
    """Every parameter is one of the old form's for this path (and there is one)."""
    allowed = LEGACY_QUERY.get(path)
    names = set(names)
    return bool(allowed and names) and names <= allowed


def refused_in_url(path: str, name: str) -> str:
    """The 400's text for a credential in the URL: where it goes instead, which setting
    enables the old form."""
    form = BODY_FORMS.get(path)
    where = f"send them in the request body: {form}" if form else "send them in the request body"
    old = f" The old query form is accepted only with {SETTING}=true." if form else ""
    return (
        f"credentials must not be sent in the URL (query parameter {name!r}); {where}.{old} "
        "Consider that password or token exposed and change it."
    )


def _enabled(request: Request) -> bool:
    return bool(request.app.state.settings.legacy_client_compat)


def _validated(model, data: dict[str, str], names: str):
    try:
        return model.model_validate(data)
    except ValidationError:
        raise BadRequest(f"invalid query parameters {names}") from None  # no values echoed


def login_from_query(request: Request) -> LoginRequest | None:
    query = request.query_params
    if not _enabled(request) or not ("u" in query or "p" in query):
        return None
    return _validated(
        LoginRequest, {"username": query.get("u"), "password": query.get("p")}, "u, p"
    )


def refresh_from_query(request: Request) -> RefreshRequest | None:
    query = request.query_params
    if not _enabled(request) or "rid" not in query:
        return None
    return _validated(RefreshRequest, {"refresh_token": query.get("rid")}, "rid")
