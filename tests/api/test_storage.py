"""Presigned URLs and POST policies verified by recomputation; names, namespaces, paging."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests.support.s3_endpoint import ACCESS_KEY, SECRET_KEY

from .sigv4_check import (
    decode_policy,
    query_of,
    recompute_policy_signature,
    recompute_url_signature,
)


def _upload(client, account, name: str, data: bytes = b"profile") -> dict:
    presign = client.post(
        "/storage/presign/upload", params={"object_name": name}, headers=account.headers
    )
    assert presign.status_code == 200, presign.text
    body = presign.json()
    assert httpx.put(body["url"], content=data, headers=body["headers"]).status_code == 200
    return body


def _signed_at(query: dict[str, str]) -> float:
    return datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()


def test_presigned_put_url_is_bound_to_key_type_and_expiry(client, account, api_server, api_bucket):
    answer = client.post(
        "/storage/presign/upload",
        params={"object_name": "runs/ä b+c.h5", "content_type": "application/x-hdf5"},
        headers=account.headers,
    ).json()
    key = f"{account.user['namespace']}/runs/ä b+c.h5"
    assert answer["key"] == key
    url = urlsplit(answer["url"])
    public = urlsplit(api_server.settings_env["MINIO_PUBLIC_ENDPOINT"])
    assert (url.scheme, url.netloc) == (public.scheme, public.netloc)
    assert url.path == f"/{api_bucket}/" + quote(key, safe="/~")
    query = query_of(answer["url"])
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "300" and answer["expires_in"] == 300
    assert abs(_signed_at(query) - time.time()) < 60
    assert query["X-Amz-Credential"].startswith(f"{ACCESS_KEY}/") and query[
        "X-Amz-Credential"
    ].endswith("/us-east-1/s3/aws4_request")
    assert query["X-Amz-SignedHeaders"] == "content-type;host"
    assert answer["headers"] == {"Content-Type": "application/x-hdf5"}
    expected = recompute_url_signature(answer["url"], "PUT", SECRET_KEY, answer["headers"])
    assert query["X-Amz-Signature"] == expected
    # Any other secret, method or content type gives another signature.
    assert (
        recompute_url_signature(answer["url"], "PUT", "another-secret", answer["headers"])
        != expected
    )
    assert recompute_url_signature(answer["url"], "GET", SECRET_KEY, answer["headers"]) != expected
    assert (
        recompute_url_signature(answer["url"], "PUT", SECRET_KEY, {"Content-Type": "text/html"})
        != expected
    )


def test_presigned_put_can_pin_the_size(client, account):
    answer = client.post(
        "/storage/presign/upload",
        params={"object_name": "sized.h5", "size_bytes": 7},
        headers=account.headers,
    ).json()
    assert query_of(answer["url"])["X-Amz-SignedHeaders"] == "content-length;host"
    assert answer["headers"] == {"Content-Length": "7"}
    assert query_of(answer["url"])["X-Amz-Signature"] == recompute_url_signature(
        answer["url"], "PUT", SECRET_KEY, answer["headers"]
    )
    too_big = client.post(
        "/storage/presign/upload",
        params={"object_name": "huge.h5", "size_bytes": 10**12},
        headers=account.headers,
    )
    assert too_big.status_code == 413


def test_presigned_put_without_a_type_signs_only_the_host(client, account):
    answer = client.post(
        "/storage/presign/upload", params={"object_name": "any.h5"}, headers=account.headers
    ).json()
    assert query_of(answer["url"])["X-Amz-SignedHeaders"] == "host"
    assert answer["headers"] == {}
    for sent_type in ("application/x-hdf5", "application/octet-stream", "text/plain"):
        put = httpx.put(answer["url"], content=b"h5", headers={"Content-Type": sent_type})
        assert put.status_code == 200, (sent_type, put.text)


def test_presigned_get_url_is_signed_and_served_as_attachment(client, account, api_bucket):
    _upload(client, account, "page.html", b"<script>alert(1)</script>")
    answer = client.get(
        "/storage/presign/download", params={"object_name": "page.html"}, headers=account.headers
    ).json()
    query = query_of(answer["url"])
    assert query["X-Amz-SignedHeaders"] == "host"
    assert query["response-content-disposition"].startswith('attachment; filename="page.html"')
    assert query["X-Amz-Signature"] == recompute_url_signature(answer["url"], "GET", SECRET_KEY, {})
    assert urlsplit(answer["url"]).path == f"/{api_bucket}/{account.user['namespace']}/page.html"


def test_post_policy_pins_key_type_and_size(client, account, api_bucket):
    answer = client.post(
        "/storage/presign/post",
        params={"object_name": "form/upload.h5", "content_type": "application/x-hdf5"},
        headers=account.headers,
    ).json()
    key = f"{account.user['namespace']}/form/upload.h5"
    fields = answer["fields"]
    policy = decode_policy(fields)
    conditions = policy["conditions"]
    assert {"bucket": api_bucket} in conditions
    assert {"key": key} in conditions  # exact key, not a starts-with prefix
    assert {"Content-Type": "application/x-hdf5"} in conditions
    assert ["content-length-range", 0, answer["max_size_bytes"]] in conditions
    assert answer["max_size_bytes"] == 2 * 1024**3
    assert not [c for c in conditions if isinstance(c, list) and c[0] == "starts-with"]
    expires = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    signed = datetime.strptime(fields["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert 0 < (expires - signed).total_seconds() <= 300  # from the signing time, not the clock
    assert fields["key"] == key and fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert {"x-amz-credential": fields["x-amz-credential"]} in conditions
    assert fields["x-amz-signature"] == recompute_policy_signature(fields, SECRET_KEY)
    assert answer["url"].endswith(f"/{api_bucket}")

    # The form works against the S3 server (which checks the policy's signature).
    posted = httpx.post(answer["url"], data=fields, files={"file": ("u.h5", b"abc")})
    assert posted.status_code in (200, 204), posted.text
    listing = client.get("/storage/list", params={"prefix": "form/"}, headers=account.headers)
    assert [o["name"] for o in listing.json()["objects"]] == ["form/upload.h5"]


HOSTILE_NAMES = [
    ("../other-user/x.h5", "'..'"),
    ("a/../../b", "'..'"),
    ("a%2Fb", "percent-escapes"),
    ("a%2fb", "percent-escapes"),
    ("dir\\file", "backslash"),
    ("nul\x00byte", "NUL"),
    ("/absolute", "start with '/'"),
    ("a//b", "empty folder names"),
    ("trailing/", "empty folder names"),
    ("tab\there", "U+0009"),
    ("new\nline", "U+000A"),
    ("<script>", "U+003C"),
    ("é" * 600, "1024 bytes"),
]


@pytest.mark.parametrize(("name", "reason"), HOSTILE_NAMES)
def test_hostile_names_get_a_clear_400(client, account, name, reason):
    for method, path in (
        ("POST", "/storage/presign/upload"),
        ("POST", "/storage/presign/post"),
        ("GET", "/storage/presign/download"),
        ("DELETE", "/storage/object"),
    ):
        answer = client.request(method, path, params={"object_name": name}, headers=account.headers)
        assert answer.status_code in (400, 422), (path, answer.text)
        if answer.status_code == 400:
            assert answer.json()["code"] == "invalid_object_name"
            assert reason in answer.json()["detail"]


def test_names_are_normalised_to_nfc(client, account):
    decomposed = "cafe\u0301.h5"  # "café" with a combining accent
    answer = client.post(
        "/storage/presign/upload", params={"object_name": decomposed}, headers=account.headers
    ).json()
    assert answer["key"].endswith("/caf\u00e9.h5")


def test_other_users_objects_are_invisible(client, account, other_account):
    _upload(client, account, "private.h5", b"secret bytes")
    full_key = f"{account.user['namespace']}/private.h5"
    listing = client.get("/storage/list", headers=other_account.headers).json()
    assert listing["objects"] == []
    for name in ("private.h5", full_key):
        missing = client.get(
            "/storage/presign/download", params={"object_name": name}, headers=other_account.headers
        )
        absent = client.get(
            "/storage/presign/download",
            params={"object_name": "never-existed.h5"},
            headers=other_account.headers,
        )
        # Exactly what a name that never existed gets: nothing tells the object is there.
        assert (
            (missing.status_code, missing.json())
            == (absent.status_code, absent.json())
            == (
                404,
                {"detail": "no such object", "code": "not_found"},
            )
        )
        deleted = client.delete(
            "/storage/object", params={"object_name": name}, headers=other_account.headers
        )
        assert deleted.status_code == 404
    mine = client.get("/storage/list", headers=account.headers).json()["objects"]
    assert [o["key"] for o in mine] == [full_key]
    # A listing prefix can't leave the namespace either.
    escape = client.get("/storage/list", params={"prefix": "../"}, headers=other_account.headers)
    assert escape.status_code == 400


def test_listing_pages_with_signed_continuation_tokens(client, account, other_account):
    names = [f"batch/run_{i}.h5" for i in range(5)]
    for name in names:
        _upload(client, account, name)
    seen, tokens = [], [None]
    while True:
        params = {"limit": 2, **({"continuation_token": tokens[-1]} if tokens[-1] else {})}
        page = client.get("/storage/list", params=params, headers=account.headers)
        assert page.status_code == 200, page.text
        seen += [o["name"] for o in page.json()["objects"]]
        if page.json()["next_continuation_token"] is None:
            break
        tokens.append(page.json()["next_continuation_token"])
    assert seen == names and len(tokens) == 3  # three pages
    first_token = tokens[1]

    tampered = first_token[:-2] + ("AA" if not first_token.endswith("AA") else "BB")
    for bad, headers, params in (
        (tampered, account.headers, {}),
        ("garbage", account.headers, {}),
        (first_token, other_account.headers, {}),  # another user's listing
        (first_token, account.headers, {"prefix": "other/"}),  # another prefix
    ):
        answer = client.get(
            "/storage/list", params={"continuation_token": bad, **params}, headers=headers
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "invalid_continuation"


def test_content_type_is_checked(client, account):
    answer = client.post(
        "/storage/presign/upload",
        params={"object_name": "x.h5", "content_type": "text/html; charset=utf-8"},
        headers=account.headers,
    )
    assert answer.status_code == 400
