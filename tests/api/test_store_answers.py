"""What the S3 server itself (Ceph's gateway, which checks signatures) answers to the URLs
and POST policies the API hands out, used as issued and tampered with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import pytest

from api_backend.storage.sigv4 import Presigner
from tests.support.s3_endpoint import ACCESS_KEY, REGION, SECRET_KEY

from .conftest import register
from .sigv4_check import query_of


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {**query_of(url), **changes}
    return urlunsplit(parts._replace(query=urlencode(query)))


def _presign_put(client, account, name: str, **params) -> dict:
    answer = client.post(
        "/storage/presign/upload",
        params={"object_name": name, **params},
        headers=account.headers,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _stored(s3_endpoint, bucket: str, key: str) -> bytes | None:
    try:
        return s3_endpoint.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3_endpoint.client().exceptions.NoSuchKey:
        return None


def test_presigned_put_as_issued_is_stored(client, account, s3_endpoint, api_bucket):
    answer = _presign_put(client, account, "runs/ä b+c.h5", content_type="application/x-hdf5")
    put = httpx.put(answer["url"], content=b"profile", headers=answer["headers"])
    assert put.status_code == 200, put.text
    assert _stored(s3_endpoint, api_bucket, answer["key"]) == b"profile"


def test_tampered_signature_key_or_expiry_is_refused(client, account, s3_endpoint, api_bucket):
    answer = _presign_put(client, account, "tampered.h5")
    signature = query_of(answer["url"])["X-Amz-Signature"]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    other_key = answer["url"].replace("/tampered.h5?", "/elsewhere.h5?")
    assert other_key != answer["url"]
    for url in (
        _with_query(answer["url"], **{"X-Amz-Signature": flipped}),
        other_key,
        _with_query(answer["url"], **{"X-Amz-Expires": "604800"}),
    ):
        refused = httpx.put(url, content=b"x", headers=answer["headers"])
        assert refused.status_code == 403, refused.text
    namespace = account.user["namespace"]
    assert _stored(s3_endpoint, api_bucket, f"{namespace}/tampered.h5") is None
    assert _stored(s3_endpoint, api_bucket, f"{namespace}/elsewhere.h5") is None


def test_expired_url_is_refused(account, s3_endpoint, api_bucket):
    # Signed an hour ago for one minute: what a URL the API issued then looks like now.
    presigner = Presigner(s3_endpoint.url, REGION, ACCESS_KEY, SECRET_KEY)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    key = f"{account.user['namespace']}/late.h5"
    url = presigner.presign_url("PUT", api_bucket, key, 60, now=an_hour_ago)
    refused = httpx.put(url, content=b"late")
    assert refused.status_code == 403, refused.text
    assert _stored(s3_endpoint, api_bucket, key) is None


@pytest.mark.parametrize("sent", ["text/plain", None])
def test_bound_content_type_must_be_sent_exactly(client, account, s3_endpoint, api_bucket, sent):
    answer = _presign_put(
        client, account, f"typed-{sent is None}.h5", content_type="application/x-hdf5"
    )
    assert answer["headers"] == {"Content-Type": "application/x-hdf5"}
    headers = {"Content-Type": sent} if sent else {}
    refused = httpx.put(answer["url"], content=b"h5", headers=headers)
    assert refused.status_code == 403, refused.text
    assert _stored(s3_endpoint, api_bucket, answer["key"]) is None


def test_pinned_size_must_be_sent_exactly(client, account, s3_endpoint, api_bucket):
    answer = _presign_put(client, account, "sized.h5", size_bytes=4)
    assert answer["headers"]["Content-Length"] == "4"
    # httpx sends the body's real length, as any client does
    headers = {name: value for name, value in answer["headers"].items() if name != "Content-Length"}
    assert httpx.put(answer["url"], content=b"12345", headers=headers).status_code == 403
    assert httpx.put(answer["url"], content=b"1234", headers=headers).status_code == 200
    assert _stored(s3_endpoint, api_bucket, answer["key"]) == b"1234"


@pytest.fixture
def small_cap_client(make_app_client):
    return make_app_client(UPLOAD_MAX_BYTES="16")


def _presign_post(http, account, name: str) -> dict:
    answer = http.post(
        "/storage/presign/post",
        params={"object_name": name, "content_type": "application/x-hdf5"},
        headers=account.headers,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_post_policy_is_enforced_by_the_store(small_cap_client, s3_endpoint, api_bucket):
    account = register(small_cap_client)
    answer = _presign_post(small_cap_client, account, "form/capped.h5")
    assert answer["max_size_bytes"] == 16
    url, fields = answer["url"], answer["fields"]

    over = httpx.post(url, data=fields, files={"file": ("f.h5", b"x" * 17)})
    assert over.status_code == 400 and "EntityTooLarge" in over.text, over.text
    elsewhere = {**fields, "key": f"{account.user['namespace']}/form/other.h5"}
    moved = httpx.post(url, data=elsewhere, files={"file": ("f.h5", b"abc")})
    assert moved.status_code == 403, moved.text
    retyped = {**fields, "Content-Type": "text/html"}
    assert httpx.post(url, data=retyped, files={"file": ("f.h5", b"abc")}).status_code == 403
    forged = {**fields, "x-amz-signature": "0" * 64}
    assert httpx.post(url, data=forged, files={"file": ("f.h5", b"abc")}).status_code == 403
    assert _stored(s3_endpoint, api_bucket, answer["key"]) is None

    within = httpx.post(url, data=fields, files={"file": ("f.h5", b"x" * 16)})
    assert within.status_code in (200, 204), within.text
    assert _stored(s3_endpoint, api_bucket, answer["key"]) == b"x" * 16
    assert _stored(s3_endpoint, api_bucket, elsewhere["key"]) is None


def test_post_outside_the_callers_namespace_is_refused(
    client, account, other_account, s3_endpoint, api_bucket
):
    answer = _presign_post(client, account, "mine.h5")
    theirs = f"{other_account.user['namespace']}/mine.h5"
    posted = httpx.post(
        answer["url"], data={**answer["fields"], "key": theirs}, files={"file": ("f", b"abc")}
    )
    assert posted.status_code == 403, posted.text
    assert _stored(s3_endpoint, api_bucket, theirs) is None
