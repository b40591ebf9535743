"""An independent recomputation of SigV4 query signatures and POST-policy signatures, written
from AWS's published algorithm, to check the URLs the API hands out field by field (the
store's own answers to them are in test_store_answers.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qsl, quote, urlsplit


def _h(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str) -> bytes:
    key = _h(b"AWS4" + secret_key.encode(), date)
    key = _h(key, region)
    key = _h(key, "s3")
    return _h(key, "aws4_request")


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def recompute_url_signature(url: str, method: str, secret_key: str, headers: dict[str, str]):
    """The signature `url` should carry if it was signed with `secret_key`."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    params = [(k, v) for k, v in pairs if k != "X-Amz-Signature"]
    query = dict(pairs)

    def enc(text: str) -> str:
        return quote(text, safe="-_.~")

    canonical_query = "&".join(f"{k}={v}" for k, v in sorted((enc(k), enc(v)) for k, v in params))
    signed = query["X-Amz-SignedHeaders"].split(";")
    values = {"host": parts.netloc, **{k.lower(): v for k, v in headers.items()}}
    canonical_headers = "".join(f"{name}:{values[name].strip()}\n" for name in signed)
    canonical_request = "\n".join(
        [
            method,
            parts.path,
            canonical_query,
            canonical_headers,
            ";".join(signed),
            "UNSIGNED-PAYLOAD",
        ]
    )
    _, date, region, service, terminal = query["X-Amz-Credential"].split("/")
    assert (service, terminal) == ("s3", "aws4_request")
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            query["X-Amz-Date"],
            f"{date}/{region}/s3/aws4_request",
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = signing_key(secret_key, date, region)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def decode_policy(fields: dict[str, str]) -> dict:
    return json.loads(base64.b64decode(fields["policy"]))


def recompute_policy_signature(fields: dict[str, str], secret_key: str) -> str:
    _, date, region, _, _ = fields["x-amz-credential"].split("/")
    key = signing_key(secret_key, date, region)
    return hmac.new(key, fields["policy"].encode(), hashlib.sha256).hexdigest()
