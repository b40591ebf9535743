"""AWS Signature Version 4 for presigned S3 URLs and POST policies, path-style addressing.

Works with any S3 implementation (MinIO, Ceph RGW, Garage, AWS). Presigning is pure
computation: no request reaches the store. boto3's `generate_presigned_url` costs about
0.3 ms of CPU per URL on our machines (its request pipeline), this about 0.02 ms, which is
what keeps presign close to the framework's own ceiling; the tests check both forms
against botocore's signer and against an independent recomputation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
DEFAULT_PORTS = {"http": 80, "https": 443}


def uri_encode(value: str, *, keep_slash: bool = False) -> str:
    """AWS UriEncode: everything but A-Z a-z 0-9 - _ . ~ percent-encoded (UTF-8, upper hex)."""
    return quote(value, safe="/~" if keep_slash else "~")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.digest(key, message.encode("utf-8"), "sha256")


class Presigner:
    def __init__(self, endpoint_url: str, region: str, access_key: str, secret_key: str):
        parts = urlsplit(endpoint_url)
        self._scheme = parts.scheme
        port = parts.port
        host = (parts.hostname or "").lower()
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        self._host = host if port in (None, DEFAULT_PORTS[parts.scheme]) else f"{host}:{port}"
        self._base_path = parts.path.rstrip("/")
        self._region = region
        self._access_key = access_key
        self._secret_key = secret_key
        self._signing_keys: dict[str, bytes] = {}
        self._credentials: dict[str, str] = {}  # date -> URI-encoded credential
        self._encoded_names: dict[str, str] = {}  # signed header list -> URI-encoded

    def _signing_key(self, date_stamp: str) -> bytes:
        key = self._signing_keys.get(date_stamp)
        if key is None:
            key = _hmac(("AWS4" + self._secret_key).encode("utf-8"), date_stamp)
            for part in (self._region, "s3", "aws4_request"):
                key = _hmac(key, part)
            self._signing_keys = {date_stamp: key}  # one day at a time
        return key

    def _scope(self, date_stamp: str) -> str:
        return f"{date_stamp}/{self._region}/s3/aws4_request"

    def _encoded_credential(self, date_stamp: str) -> str:
        encoded = self._credentials.get(date_stamp)
        if encoded is None:
            encoded = uri_encode(f"{self._access_key}/{self._scope(date_stamp)}")
            self._credentials = {date_stamp: encoded}
        return encoded

    def object_path(self, bucket: str, key: str) -> str:
        return f"{self._base_path}/{uri_encode(bucket)}/{uri_encode(key, keep_slash=True)}"

    def presign_url(
        self,
        method: str,
        bucket: str,
        key: str,
        expires_s: int,
        *,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> str:
        """A URL valid for `expires_s` seconds; a client must send exactly `headers`."""
        now = now or datetime.now(UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        date_stamp = amz_date[:8]
        signed = {"host": self._host}
        for name, value in (headers or {}).items():
            signed[name.lower()] = " ".join(value.split())
        names = sorted(signed)
        signed_names = ";".join(names)
        encoded_names = self._encoded_names.get(signed_names)
        if encoded_names is None:
            encoded_names = self._encoded_names.setdefault(signed_names, uri_encode(signed_names))
        # Digits, letters and "T", "Z" need no encoding; only the credential, the header
        # list and caller-supplied parameters do (the first two are cached).
        params = [
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", self._encoded_credential(date_stamp)),
            ("X-Amz-Date", amz_date),
            ("X-Amz-Expires", str(int(expires_s))),
            ("X-Amz-SignedHeaders", encoded_names),
        ]
        params += [(uri_encode(k), uri_encode(v)) for k, v in (query or {}).items()]
        canonical_query = "&".join(f"{k}={v}" for k, v in sorted(params))
        path = self.object_path(bucket, key)
        canonical_headers = "".join(f"{name}:{signed[name]}\n" for name in names)
        canonical_request = (
            f"{method}\n{path}\n{canonical_query}\n{canonical_headers}\n"
            f"{signed_names}\n{UNSIGNED_PAYLOAD}"
        )
        string_to_sign = (
            f"{ALGORITHM}\n{amz_date}\n{self._scope(date_stamp)}\n"
            + hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
        )
        signature = hmac.new(
            self._signing_key(date_stamp), string_to_sign.encode("utf-8"), hashlib.sha256
        ).hexdigest()
        return f"{self._scheme}://{self._host}{path}?{canonical_query}&X-Amz-Signature={signature}"

    def presign_post(
        self,
        bucket: str,
        key: str,
        expires_s: int,
        *,
        content_type: str,
        max_bytes: int,
        min_bytes: int = 0,
        metadata: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> tuple[str, dict[str, str]]:
        """(url, form fields) for a browser-style POST upload of exactly `key`; the store
        itself refuses a body outside [min_bytes, max_bytes] or another key, type or
        `metadata` (`x-amz-meta-*` fields, each an exact-match condition)."""
        now = now or datetime.now(UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        date_stamp = amz_date[:8]
        credential = f"{self._access_key}/{self._scope(date_stamp)}"
        expiration = (now + timedelta(seconds=expires_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
        policy = {
            "expiration": expiration,
            "conditions": [
                {"bucket": bucket},
                {"key": key},
                {"Content-Type": content_type},
                *({name: value} for name, value in (metadata or {}).items()),
                ["content-length-range", min_bytes, max_bytes],
                {"x-amz-algorithm": ALGORITHM},
                {"x-amz-credential": credential},
                {"x-amz-date": amz_date},
            ],
        }
        encoded = base64.b64encode(json.dumps(policy, separators=(",", ":")).encode()).decode()
        signature = _hmac(self._signing_key(date_stamp), encoded).hex()
        fields = {
            "key": key,
            "Content-Type": content_type,
            **(metadata or {}),
            "x-amz-algorithm": ALGORITHM,
            "x-amz-credential": credential,
            "x-amz-date": amz_date,
            "policy": encoded,
            "x-amz-signature": signature,
        }
        return f"{self._scheme}://{self._host}{self._base_path}/{uri_encode(bucket)}", fields
