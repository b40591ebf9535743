"""Request bodies parsed with limits: JSON that Python's parser would take but that no client
of this API sends (NaN, 1e999, 1000 levels of nesting, lone surrogates, NUL) is refused with
a 400 and a one-line reason before any validation or logging sees it.

`StrictJSONRoute` gives FastAPI-parsed bodies the same parser (`APIRouter(route_class=...)`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

MAX_JSON_DEPTH = 32
MAX_INT_DIGITS = 20  # any 64-bit integer, sign included
# NUL breaks PostgreSQL text; a lone surrogate can't be encoded as UTF-8 (logs, responses).
_FORBIDDEN_CHARS = re.compile("[\x00\ud800-\udfff]")


class InvalidBody(HTTPException):
    """A 400 that FastAPI passes through while it reads a body; rendered as `invalid_body`."""

    code = "invalid_body"

    def __init__(self, detail: str):
        super().__init__(status_code=400, detail=detail)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("a number is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS:
        raise ValueError(f"an integer has more than {MAX_INT_DIGITS} digits")
    return int(text)


def check_strings(value: Any) -> None:
    """Raise InvalidBody when a string (or key) in `value` holds NUL or a lone surrogate, or
    when containers nest deeper than MAX_JSON_DEPTH. Iterative: no recursion to exhaust."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _FORBIDDEN_CHARS.search(item):
                raise InvalidBody("the body contains NUL or an unpaired surrogate")
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise InvalidBody(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels")
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)


def strict_loads(raw: bytes) -> Any:
    """The parsed body, or InvalidBody with the reason."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidBody("the body is not valid UTF-8") from None
    try:
        data = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except RecursionError:
        raise InvalidBody(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise InvalidBody(f"the body is not valid JSON: {reason}") from None
    check_strings(data)
    return data


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """Routes whose JSON bodies are parsed by `strict_loads`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler
