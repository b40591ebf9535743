"""The optional JSON body of the presign routes (`{"benchmark_name": ..., "work": ...}`), read
by hand: the upload route is the hottest one, and a request without a body must cost nothing
extra."""

from __future__ import annotations

from fastapi import Request
from pydantic import ValidationError

from ..core.benchmark import check_benchmark_name
from ..core.errors import BadRequest, UnsupportedMediaType
from ..core.strict_json import strict_loads
from ..core.work import check_work
from .schemas import UploadOptions

REQUEST_BODY = {
    "required": False,
    "content": {"application/json": {"schema": UploadOptions.model_json_schema()}},
}


async def upload_options(request: Request) -> UploadOptions:
    """The body's options; no body (or JSON null) is no options. 400/415 with a reason."""
    raw = await request.body()  # size capped by the middleware
    if not raw.strip():
        return UploadOptions()
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType(
            'send the options as application/json: {"benchmark_name": ..., "work": ...}'
        )
    data = strict_loads(raw)
    if data is None:
        return UploadOptions()
    if isinstance(data, dict):  # each field's own message, before the model's
        if data.get("benchmark_name") is not None:
            check_benchmark_name(data["benchmark_name"])
        if data.get("work") is not None:
            check_work(data["work"])
    try:
        return UploadOptions.model_validate(data)
    except ValidationError as exc:
        where = ", ".join(".".join(map(str, e["loc"])) or "body" for e in exc.errors())
        raise BadRequest(
            f"invalid request body: {where} (the body may hold only benchmark_name and work)"
        ) from None


def legacy_benchmark(request: Request) -> str | None:
    """The origin client's `?benchmark_name=`, honoured only with LEGACY_CLIENT_COMPAT=true."""
    if not request.app.state.settings.legacy_client_compat:
        return None
    return request.query_params.get("benchmark_name")
