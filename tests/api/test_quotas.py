"""Per-user quotas (USER_MAX_OBJECTS, USER_MAX_BYTES) when upload URLs and policies are
issued, counted from what the user really stored in the S3 server."""

from __future__ import annotations

import base64
import json

import httpx

from .conftest import register


def _presign(app, account, name: str, size: int | None = None):
    params = {"object_name": name} | ({"size_bytes": str(size)} if size is not None else {})
    return app.post("/storage/presign/upload", params=params, headers=account.headers)


def _put(app, account, name: str, data: bytes) -> None:
    body = _presign(app, account, name, len(data)).json()
    assert httpx.put(body["url"], content=data, headers=body["headers"]).status_code == 200


def test_the_object_quota_refuses_new_names_but_allows_replacing(make_app_client):
    app = make_app_client(USER_MAX_OBJECTS="2", QUOTA_CACHE_S="0")
    account = register(app)
    _put(app, account, "a.h5", b"one")
    _put(app, account, "b.h5", b"two")
    for path in ("/storage/presign/upload", "/storage/presign/post"):
        refused = app.post(path, params={"object_name": "c.h5"}, headers=account.headers)
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "quota_exceeded"
        assert "quota of 2 objects" in refused.json()["detail"]
    assert _presign(app, account, "a.h5").status_code == 200  # replacing an existing object
    # Deleting makes room again; another user is unaffected.
    app.delete("/storage/object", params={"object_name": "b.h5"}, headers=account.headers)
    assert _presign(app, account, "c.h5").status_code == 200
    assert _presign(app, register(app), "c.h5").status_code == 200


def test_the_byte_quota_caps_sizes_and_post_policies(make_app_client):
    app = make_app_client(USER_MAX_BYTES="100", QUOTA_CACHE_S="0")
    account = register(app)
    _put(app, account, "sixty.h5", b"x" * 60)
    too_big = _presign(app, account, "more.h5", 41)
    assert too_big.status_code == 413 and too_big.json()["code"] == "quota_exceeded"
    assert "40 bytes are left" in too_big.json()["detail"]
    assert _presign(app, account, "more.h5", 40).status_code == 200
    post = app.post(
        "/storage/presign/post", params={"object_name": "form.h5"}, headers=account.headers
    ).json()
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    assert post["max_size_bytes"] == 40
    assert ["content-length-range", 0, 40] in policy["conditions"]


def test_presigns_within_the_cache_window_count_against_the_quota(make_app_client):
    app = make_app_client(USER_MAX_OBJECTS="3", QUOTA_CACHE_S="600")
    account = register(app)
    assert [_presign(app, account, f"{i}.h5").status_code for i in range(3)] == [200] * 3
    # The same name again is no new object; a fourth name is over the quota.
    assert _presign(app, account, "0.h5").status_code == 200
    assert _presign(app, account, "3.h5").status_code == 409
