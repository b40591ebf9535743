"""Storage rules: every key is inside the caller's namespace, URLs are short-lived.

`presign_upload` and `presign_post` are computation while the quota's usage is cached
(`quota.needs_store` says when not: then they list the store and block);
`presign_download`, `list_objects` and `delete_object` talk to the store and block.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import quote

from ..core.benchmark import BENCHMARK_NAME_HEADER, check_benchmark_name
from ..core.config import Settings
from ..core.errors import BadRequest, NotFound, PayloadTooLarge
from ..core.work import WORK_HEADER, check_work
from .keys import list_prefix, object_key
from .quota import QuotaLedger
from .s3 import ObjectStore
from .schemas import ObjectInfo, ObjectList, PresignDownload, PresignPost, PresignUpload
from .sigv4 import Presigner

log = logging.getLogger(__name__)

DEFAULT_CONTENT_TYPE = "application/octet-stream"
# RFC 6838 type/subtype, no parameters: it is signed and must match the upload byte for byte.
# Used with fullmatch (a `$` would let a trailing newline through).
_CONTENT_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
)
_TOKEN_CONTEXT = b"benchsuite/storage-list-continuation/v1\x00"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_content_type(content_type: str | None) -> str:
    value = content_type or DEFAULT_CONTENT_TYPE
    if not _CONTENT_TYPE.fullmatch(value):
        raise BadRequest("content_type must look like type/subtype, e.g. application/x-hdf5")
    return value


def _attachment(key: str) -> str:
    """Content-Disposition for a download (RFC 6266 with an RFC 5987 UTF-8 name)."""
    filename = key.rsplit("/", 1)[-1]
    fallback = "".join(c if (c.isascii() and c.isalnum()) or c in " ._-" else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _upload_metadata(benchmark_name: str | None, work: str | None) -> dict[str, str]:
    """The `x-amz-meta-*` headers an upload must carry, each checked (400 or 422)."""
    metadata = {}
    if benchmark_name is not None:
        metadata[BENCHMARK_NAME_HEADER] = check_benchmark_name(benchmark_name)
    if work is not None:
        metadata[WORK_HEADER] = check_work(work)
    return metadata


@dataclass(slots=True)
class StorageService:
    """The storage use cases of one caller: every key is inside `namespace`."""

    settings: Settings
    presigner: Presigner
    store: ObjectStore
    namespace: str
    quota: QuotaLedger

    # Continuation tokens: S3's own token, bound to the listing's prefix by an HMAC keyed with
    # BUCKET_TOKEN_SECRET, so a client can't steer a listing outside its namespace or feed
    # the store tokens it never issued.

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(
            self.settings.bucket_token_key(), _TOKEN_CONTEXT + payload, hashlib.sha256
        ).digest()

    def _wrap_token(self, prefix: str, s3_token: str) -> str:
        payload = json.dumps({"p": prefix, "t": s3_token}, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def _unwrap_token(self, prefix: str, token: str) -> str:
        try:
            payload_b64, mac_b64 = token.split(".")
            payload, mac = _unb64(payload_b64), _unb64(mac_b64)
            valid = hmac.compare_digest(mac, self._sign(payload))
            data = json.loads(payload) if valid else None
        except (ValueError, UnicodeDecodeError):
            data = None
        if (
            not isinstance(data, dict)
            or data.get("p") != prefix
            or not isinstance(data.get("t"), str)
        ):
            raise BadRequest(
                "continuation_token is not one this listing issued", code="invalid_continuation"
            )
        return data["t"]

    # Use cases -------------------------------------------------------------------------

    def presign_upload(
        self,
        object_name: str,
        content_type: str | None,
        size_bytes: int | None,
        benchmark_name: str | None = None,
        work: str | None = None,
    ) -> PresignUpload:
        key = object_key(object_name, self.namespace)
        # The type is signed only when the caller names one: clients that send their own
        # guess (mimetypes, curl's default) must not be refused by the store for it.
        headers = {} if content_type is None else {"Content-Type": check_content_type(content_type)}
        if size_bytes is not None:
            if size_bytes > self.settings.upload_max_bytes:
                raise PayloadTooLarge(
                    f"uploads are limited to {self.settings.upload_max_bytes} bytes"
                )
            headers["Content-Length"] = str(size_bytes)  # signed: the store checks it
        # The benchmark and the work travel as object metadata, signed into the URL: a client
        # that sends the answer's `headers` (as the origin client merges them into its PUT)
        # can't change them.
        headers.update(_upload_metadata(benchmark_name, work))
        # Without size_bytes the store can't cap a PUT: the quota's bytes are then checked
        # against what is stored, and the upload is re-checked when it arrives (docs/api.md).
        self.quota.check_and_reserve(self.namespace, key, size_bytes)
        ttl = self.settings.presign_upload_ttl_s
        url = self.presigner.presign_url(
            "PUT", self.settings.minio_bucket, key, ttl, headers=headers
        )
        return PresignUpload(key=key, url=url, expires_in=ttl, headers=headers)

    def presign_post(
        self,
        object_name: str,
        content_type: str | None,
        benchmark_name: str | None = None,
        work: str | None = None,
    ) -> PresignPost:
        key = object_key(object_name, self.namespace)
        content_type = check_content_type(content_type)
        metadata = _upload_metadata(benchmark_name, work)
        # The policy's content-length-range caps the body at what the quota leaves.
        remaining = self.quota.check_and_reserve(self.namespace, key, None)
        max_bytes = min(self.settings.upload_max_bytes, remaining)
        ttl = self.settings.presign_upload_ttl_s
        url, fields = self.presigner.presign_post(
            self.settings.minio_bucket,
            key,
            ttl,
            content_type=content_type,
            max_bytes=max_bytes,
            metadata=metadata or None,
        )
        return PresignPost(
            key=key,
            url=url,
            fields=fields,
            expires_in=ttl,
            max_size_bytes=max_bytes,
        )

    def presign_download(self, object_name: str) -> PresignDownload:
        key = object_key(object_name, self.namespace)
        if self.store.head(key) is None:
            raise NotFound("no such object")
        ttl = self.settings.presign_download_ttl_s
        # Served as an attachment, so an uploaded HTML file can't run in a browser that
        # opens the link.
        url = self.presigner.presign_url(
            "GET",
            self.settings.minio_bucket,
            key,
            ttl,
            query={"response-content-disposition": _attachment(key)},
        )
        return PresignDownload(key=key, url=url, expires_in=ttl)

    def list_objects(
        self, prefix: str | None, limit: int, continuation_token: str | None
    ) -> ObjectList:
        s3_prefix = list_prefix(prefix, self.namespace)
        s3_token = self._unwrap_token(s3_prefix, continuation_token) if continuation_token else None
        page = self.store.list_page(s3_prefix, min(limit, self.settings.list_max_keys), s3_token)
        own = self.namespace + "/"
        return ObjectList(
            objects=[
                ObjectInfo(
                    key=item.key,
                    name=item.key[len(own) :],
                    size=item.size,
                    last_modified=item.last_modified,
                )
                for item in page.objects
            ],
            next_continuation_token=(
                self._wrap_token(s3_prefix, page.next_token) if page.next_token else None
            ),
        )

    def delete_object(self, object_name: str) -> None:
        key = object_key(object_name, self.namespace)
        if self.store.head(key) is None:
            raise NotFound("no such object")
        self.store.delete(key)
        self.quota.forget(self.namespace)
        log.info("object deleted", extra={"event": "object_deleted", "namespace": self.namespace})
