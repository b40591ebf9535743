"""The whole user journey over HTTP against uvicorn, PostgreSQL and Ceph's S3 gateway."""

from __future__ import annotations

import uuid

import httpx

from .conftest import PASSWORD


def test_register_upload_download_refresh_and_replay(client):
    username = f"flow-{uuid.uuid4().hex[:8]}"
    registered = client.post("/auth/register", json={"username": username, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    namespace = registered.json()["user"]["namespace"]
    assert namespace == "user-" + registered.json()["user"]["id"]

    # Log in with the OAuth2 password form, as `curl -d` or Swagger UI send it.
    login = client.post(
        "/auth/password",
        data={"grant_type": "password", "username": username, "password": PASSWORD},
    )
    assert login.status_code == 200, login.text
    tokens = login.json()
    assert tokens["token_type"] == "bearer"
    assert (
        tokens["access"] == tokens["access_token"] and tokens["refresh"] == tokens["refresh_token"]
    )
    assert 0 < tokens["expires_in"] <= 900
    assert login.headers["cache-control"] == "no-store"
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}

    payload = b"\x89HDF\r\n\x1a\n" + uuid.uuid4().bytes * 64
    presign = client.post(
        "/storage/presign/upload",
        params={"object_name": "runs 2026/job_5.h5", "content_type": "application/x-hdf5"},
        headers=auth,
    )
    assert presign.status_code == 200, presign.text
    upload = presign.json()
    assert upload["key"] == f"{namespace}/runs 2026/job_5.h5"
    put = httpx.put(upload["url"], content=payload, headers=upload["headers"])
    assert put.status_code == 200, put.text

    listing = client.get("/storage/list", headers=auth).json()
    assert [(o["key"], o["name"], o["size"]) for o in listing["objects"]] == [
        (upload["key"], "runs 2026/job_5.h5", len(payload))
    ]

    # Older clients pass the full key from the listing back as object_name.
    for name in ("runs 2026/job_5.h5", upload["key"]):
        download = client.get(
            "/storage/presign/download", params={"object_name": name}, headers=auth
        )
        assert download.status_code == 200, download.text
        fetched = httpx.get(download.json()["url"])
        assert fetched.status_code == 200
        assert fetched.content == payload

    refreshed = client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    new_tokens = refreshed.json()
    assert new_tokens["refresh_token"] != tokens["refresh_token"]
    new_auth = {"Authorization": f"Bearer {new_tokens['access_token']}"}
    assert client.get("/storage/list", headers=new_auth).status_code == 200

    # Replaying the used refresh token (the server runs with no grace window) ends the
    # session: the replayed token, its successor and the session's access tokens all fail.
    replay = client.post("/auth/refresh", json={"refresh": tokens["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid_grant"
    successor = client.post("/auth/refresh", json={"refresh_token": new_tokens["refresh_token"]})
    assert successor.status_code == 401
    for headers in (auth, new_auth):
        assert client.get("/storage/list", headers=headers).status_code == 401

    # Other sessions of the same account are unaffected.
    again = client.post("/auth/password", json={"username": username, "password": PASSWORD})
    assert again.status_code == 200
    fresh = {"Authorization": f"Bearer {again.json()['access_token']}"}
    assert client.get("/storage/list", headers=fresh).status_code == 200


def test_delete_object_then_it_is_gone(client, account):
    presign = client.post(
        "/storage/presign/upload", params={"object_name": "old.h5"}, headers=account.headers
    ).json()
    assert httpx.put(presign["url"], content=b"x", headers=presign["headers"]).status_code == 200

    deleted = client.delete(
        "/storage/object", params={"object_name": "old.h5"}, headers=account.headers
    )
    assert deleted.status_code == 204
    assert client.get("/storage/list", headers=account.headers).json()["objects"] == []
    again = client.delete(
        "/storage/object", params={"object_name": "old.h5"}, headers=account.headers
    )
    assert again.status_code == 404
    download = client.get(
        "/storage/presign/download", params={"object_name": "old.h5"}, headers=account.headers
    )
    assert download.status_code == 404


def test_me_shows_the_account(client, account):
    me = client.get("/auth/me", headers=account.headers)
    assert me.status_code == 200
    assert me.json()["username"] == account.username
    assert me.json()["namespace"] == account.user["namespace"]
    assert "password" not in me.text and "hash" not in me.text
