"""HTTP layer of /storage. Object names are relative to the caller's namespace (a full key
starting with the caller's own namespace is accepted too)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from ..api.deps import UserStorage
from ..core.errors import BadRequest, error_responses
from .schemas import ObjectList, PresignDownload, PresignPost, PresignUpload
from .upload_options import REQUEST_BODY, legacy_benchmark, upload_options

router = APIRouter(prefix="/storage", tags=["storage"])

ObjectName = Annotated[
    str,
    Query(
        min_length=1,
        max_length=1024,
        description="Object name inside your namespace, e.g. `runs 2026/job_5.h5`.",
        examples=["runs 2026/job_5.h5"],
    ),
]
ContentType = Annotated[
    str | None,
    Query(
        max_length=255,
        description="Content type the upload must send (signed). Default application/octet-stream.",
        examples=["application/x-hdf5"],
    ),
]


# The hottest route reads its three query parameters itself: FastAPI's per-parameter
# resolution costs about 10 us each, a quarter of this route's server time (bench/api.py).
# They are documented here and checked as strictly as declared ones would be.
PRESIGN_UPLOAD_PARAMETERS = [
    {
        "name": "object_name",
        "in": "query",
        "required": True,
        "description": "Object name inside your namespace, e.g. `runs 2026/job_5.h5`.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 1024},
        "example": "runs 2026/job_5.h5",
    },
    {
        "name": "content_type",
        "in": "query",
        "required": False,
        "description": (
            "Content type the upload must send (then signed and listed in `headers`). "
            "Without it the type is not signed: the upload may send any."
        ),
        "schema": {"type": "string", "maxLength": 255},
        "example": "application/x-hdf5",
    },
    {
        "name": "size_bytes",
        "in": "query",
        "required": False,
        "description": "Exact upload size; signed too, so the store refuses any other size.",
        "schema": {"type": "integer", "minimum": 0},
    },
    {
        "name": "benchmark_name",
        "in": "query",
        "required": False,
        "deprecated": True,
        "description": (
            "The origin client's benchmark name, only with LEGACY_CLIENT_COMPAT=true "
            "(ignored otherwise); `benchmark_name` in the JSON body is the current form and "
            "wins over this one. 1-128 of `A-Z a-z 0-9 . _ -`."
        ),
        "schema": {"type": "string", "maxLength": 128},
    },
]


def _presign_upload_query(request: Request) -> tuple[str, str | None, int | None]:
    query = request.query_params
    object_name = query.get("object_name")
    if not object_name or len(object_name) > 1024:
        raise BadRequest("object_name is required (1-1024 characters)")
    content_type = query.get("content_type")
    if content_type is not None and len(content_type) > 255:
        raise BadRequest("content_type must be at most 255 characters")
    size = query.get("size_bytes")
    if size is None:
        return object_name, content_type, None
    if not size.isascii() or not size.isdigit() or len(size) > 18:
        raise BadRequest("size_bytes must be a non-negative integer")
    return object_name, content_type, int(size)


@router.post(
    "/presign/upload",
    response_model=PresignUpload,
    summary="Presigned PUT URL for an upload",
    description=(
        "Upload with `PUT <url>` and the returned `headers`: they list every header the "
        "signature binds (none beyond Host unless `content_type` or `size_bytes` is given). "
        "With `size_bytes` the length is signed too, so the store refuses any other size. "
        "Refused with 409 `quota_exceeded` at USER_MAX_OBJECTS objects, 413 when "
        "`size_bytes` is over what USER_MAX_BYTES leaves. An optional JSON body "
        '`{"benchmark_name": "...", "work": "UNIT=VALUE"}` names the benchmark and the '
        "figure of merit it printed (`GFLOP/s=1234`): stored as the object's "
        "`x-amz-meta-benchmark-name` and `x-amz-meta-work`, signed and listed in `headers`. "
        "A bad `work` is a one-line 422 `invalid_work`."
    ),
    responses=error_responses(400, 401, 409, 413, 415, 422, 503),
    openapi_extra={"parameters": PRESIGN_UPLOAD_PARAMETERS, "requestBody": REQUEST_BODY},
)
async def presign_upload(storage: UserStorage, request: Request):
    query = _presign_upload_query(request)
    options = await upload_options(request)
    query = (*query, options.benchmark_name or legacy_benchmark(request), options.work)
    if storage.quota.needs_store(storage.namespace):
        upload = await run_in_threadpool(storage.presign_upload, *query)
    else:
        upload = storage.presign_upload(*query)
    return Response(upload.model_dump_json(), media_type="application/json")


@router.post(
    "/presign/post",
    response_model=PresignPost,
    summary="Presigned POST policy for an upload with a size cap",
    description=(
        "Send `multipart/form-data` to `url` with every field of `fields` and then the "
        "`file`. The signed policy pins the key and content type and caps the size "
        "(UPLOAD_MAX_BYTES, or what USER_MAX_BYTES leaves); the store enforces all three. "
        "Refused with 409 `quota_exceeded` at USER_MAX_OBJECTS objects, 413 when no bytes "
        "of the quota are left. An optional JSON body "
        '`{"benchmark_name": "...", "work": "UNIT=VALUE"}` adds the fields '
        "`x-amz-meta-benchmark-name` and `x-amz-meta-work` to `fields`, pinned by the policy. "
        "A bad `work` is a one-line 422 `invalid_work`."
    ),
    responses=error_responses(400, 401, 409, 413, 415, 503),
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def presign_post(
    storage: UserStorage,
    request: Request,
    object_name: ObjectName,
    content_type: ContentType = None,
):
    options = await upload_options(request)
    args = (object_name, content_type, options.benchmark_name, options.work)
    if storage.quota.needs_store(storage.namespace):
        return await run_in_threadpool(storage.presign_post, *args)
    return storage.presign_post(*args)


@router.get(
    "/presign/download",
    response_model=PresignDownload,
    summary="Presigned GET URL for one of your objects",
    responses=error_responses(400, 401, 404, 503),
)
async def presign_download(storage: UserStorage, object_name: ObjectName):
    return await run_in_threadpool(storage.presign_download, object_name)


@router.get(
    "/list",
    response_model=ObjectList,
    summary="List your objects, a page at a time",
    responses=error_responses(400, 401, 503),
)
async def list_objects(
    storage: UserStorage,
    prefix: Annotated[
        str | None, Query(max_length=1024, description="Only names starting with this.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 1000,
    continuation_token: Annotated[
        str | None,
        Query(max_length=4096, description="`next_continuation_token` of the previous page."),
    ] = None,
):
    return await run_in_threadpool(storage.list_objects, prefix, limit, continuation_token)


@router.delete(
    "/object",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete one of your objects",
    responses=error_responses(400, 401, 404, 503),
)
async def delete_object(storage: UserStorage, object_name: ObjectName):
    await run_in_threadpool(storage.delete_object, object_name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
