"""HTTP layer of /storage. Object names are relative to the caller's namespace (a full key
starting with the caller's own namespace is accepted too)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.concurrency import run_in_threadpool

from ..api.deps import CurrentUser, StorageDep
from ..core.errors import error_responses
from .schemas import ObjectList, PresignDownload, PresignPost, PresignUpload

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


@router.post(
    "/presign/upload",
    response_model=PresignUpload,
    summary="Presigned PUT URL for an upload",
    description=(
        "Upload with `PUT <url>` and exactly the returned `headers`. With `size_bytes` the "
        "length is signed too, so the store refuses any other size."
    ),
    responses=error_responses(400, 401, 413),
)
async def presign_upload(
    user: CurrentUser,
    storage: StorageDep,
    object_name: ObjectName,
    content_type: ContentType = None,
    size_bytes: Annotated[int | None, Query(ge=0, description="Exact upload size.")] = None,
):
    return storage.presign_upload(user.namespace, object_name, content_type, size_bytes)


@router.post(
    "/presign/post",
    response_model=PresignPost,
    summary="Presigned POST policy for an upload with a size cap",
    description=(
        "Send `multipart/form-data` to `url` with every field of `fields` and then the "
        "`file`. The signed policy pins the key and content type and caps the size "
        "(UPLOAD_MAX_BYTES); the store enforces all three."
    ),
    responses=error_responses(400, 401),
)
async def presign_post(
    user: CurrentUser,
    storage: StorageDep,
    object_name: ObjectName,
    content_type: ContentType = None,
):
    return storage.presign_post(user.namespace, object_name, content_type)


@router.get(
    "/presign/download",
    response_model=PresignDownload,
    summary="Presigned GET URL for one of your objects",
    responses=error_responses(400, 401, 404, 503),
)
async def presign_download(user: CurrentUser, storage: StorageDep, object_name: ObjectName):
    return await run_in_threadpool(storage.presign_download, user.namespace, object_name)


@router.get(
    "/list",
    response_model=ObjectList,
    summary="List your objects, a page at a time",
    responses=error_responses(400, 401, 503),
)
async def list_objects(
    user: CurrentUser,
    storage: StorageDep,
    prefix: Annotated[
        str | None, Query(max_length=1024, description="Only names starting with this.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 1000,
    continuation_token: Annotated[
        str | None,
        Query(max_length=4096, description="`next_continuation_token` of the previous page."),
    ] = None,
):
    return await run_in_threadpool(
        storage.list_objects, user.namespace, prefix, limit, continuation_token
    )


@router.delete(
    "/object",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete one of your objects",
    responses=error_responses(400, 401, 404, 503),
)
async def delete_object(user: CurrentUser, storage: StorageDep, object_name: ObjectName):
    await run_in_threadpool(storage.delete_object, user.namespace, object_name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
