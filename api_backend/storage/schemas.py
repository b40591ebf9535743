"""Bodies of /storage. Field names `key`, `url`, `expires_in` and the list shape
are the legacy API's."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

KEY_EXAMPLE = "user-5f0c8e2a9d4b7c1e3a6f0b2d/runs 2026/job_5.h5"


class PresignUpload(BaseModel):
    key: str = Field(description="Full object key (namespace included).", examples=[KEY_EXAMPLE])
    url: str = Field(description="Presigned PUT URL, signed for MINIO_PUBLIC_ENDPOINT.")
    expires_in: int = Field(description="Seconds the URL stays valid.", examples=[300])
    method: str = Field("PUT", description="HTTP method to use with `url`.")
    headers: dict[str, str] = Field(
        description=(
            "Every header the signature binds; send each exactly as given. Empty when only "
            "the host is signed (any Content-Type may be sent then)."
        ),
        examples=[{"Content-Type": "application/x-hdf5"}],
    )


class PresignPost(BaseModel):
    key: str = Field(examples=[KEY_EXAMPLE])
    url: str = Field(description="Form target: POST multipart/form-data with `fields` + `file`.")
    fields: dict[str, str] = Field(
        description="Form fields to send before the `file` field, unchanged."
    )
    expires_in: int = Field(examples=[300])
    max_size_bytes: int = Field(description="Largest body the store accepts for this upload.")


class PresignDownload(BaseModel):
    key: str = Field(examples=[KEY_EXAMPLE])
    url: str = Field(description="Presigned GET URL, signed for MINIO_PUBLIC_ENDPOINT.")
    expires_in: int = Field(examples=[300])


class ObjectInfo(BaseModel):
    key: str = Field(description="Full object key.", examples=[KEY_EXAMPLE])
    name: str = Field(description="Key inside your namespace.", examples=["runs 2026/job_5.h5"])
    size: int = Field(description="Bytes.")
    last_modified: datetime | None


class ObjectList(BaseModel):
    objects: list[ObjectInfo]
    next_continuation_token: str | None = Field(
        None, description="Pass as `continuation_token` for the next page; null on the last."
    )


class UploadOptions(BaseModel):
    """The optional JSON body of POST /storage/presign/upload and /storage/presign/post."""

    model_config = ConfigDict(extra="forbid")

    benchmark_name: str | None = Field(
        None,
        description=(
            "The benchmark the profile belongs to: 1-128 of `A-Z a-z 0-9 . _ -`. Stored as the "
            "object's `x-amz-meta-benchmark-name`, signed into the URL (listed in `headers`) "
            "or pinned by the policy (a field in `fields`), so the upload can't change it."
        ),
        examples=["hpl-2026"],
    )
    work: str | None = Field(
        None,
        description=(
            "A figure of merit the benchmark printed, `UNIT=VALUE` as the analysis' `--work` "
            "takes it (HPL's `GFLOP/s=1234`, STREAM's `GB/s=180`; a FLOP rate or amount gives "
            "the job's joules per GFLOP). At most 128 printable ASCII characters, the value a "
            "finite number >= 0; anything else is a one-line 422 `invalid_work`. Stored as the "
            "object's `x-amz-meta-work`, signed like `benchmark_name`."
        ),
        examples=["GFLOP/s=1234"],
    )
