"""Registration, login, logout, password change and throttling."""

from __future__ import annotations

import concurrent.futures
import time
import uuid

import httpx
import pytest

from .conftest import PASSWORD, register


def _name() -> str:
    return f"acct-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short one", "at least 15 characters"),
        ("password12345678", "common or breached"),
        ("qwertyuiopasdfghjkl", "common or breached"),
        ("1234567890123456", "common or breached"),
        ("abcdefghijklmnopq", "sequence or a repetition"),
        ("xyzxyzxyzxyzxyzxyz", "sequence or a repetition"),
        ("x" * 257, "at most 256 characters"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(client, password, reason):
    answer = client.post("/auth/register", json={"username": _name(), "password": password})
    assert answer.status_code == 400
    assert answer.json()["code"] == "weak_password"
    assert reason in answer.json()["detail"]


def test_password_that_is_mostly_the_username_is_refused(client):
    name = "mallory-the-admin"
    answer = client.post("/auth/register", json={"username": name, "password": name + "12"})
    assert answer.status_code == 400
    assert "username" in answer.json()["detail"]


@pytest.mark.parametrize(
    "password",
    [
        "Tr0ub4dor&3 is not enough but this is",  # composition doesn't matter
        "ein schöner langer Satz mit Umlauten äöü",  # any Unicode
        "🔋⚡ energy per node and per step 🔋⚡",
        "w" + "abcdefghij" * 25 + "y",  # 252 characters, kept whole
    ],
)
def test_long_and_unicode_passwords_work_without_truncation(client, password):
    name = _name()
    assert (
        client.post("/auth/register", json={"username": name, "password": password}).status_code
        == 201
    )
    ok = client.post("/auth/password", json={"username": name, "password": password})
    assert ok.status_code == 200
    # No silent truncation: the password minus its last character doesn't log in.
    truncated = client.post("/auth/password", json={"username": name, "password": password[:-1]})
    assert truncated.status_code == 401


def test_username_is_case_insensitive_and_unique(client):
    name = _name()
    assert (
        client.post("/auth/register", json={"username": name, "password": PASSWORD}).status_code
        == 201
    )
    taken = client.post("/auth/register", json={"username": name.upper(), "password": PASSWORD})
    assert taken.status_code == 409
    login = client.post("/auth/password", json={"username": name.upper(), "password": PASSWORD})
    assert login.status_code == 200


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/auth/password", {"username": "alice", "password": PASSWORD}),
        ("/auth/password", {"u": "alice", "p": PASSWORD}),  # the query names older clients used
        ("/auth/register", {"username": "alice", "password": PASSWORD}),
        ("/auth/refresh", {"rid": "abc"}),
        ("/auth/refresh", {"refresh_token": "abc"}),
        ("/storage/list", {"access_token": "abc"}),
    ],
)
def test_credentials_in_the_url_are_refused(client, path, query):
    answer = (
        client.post(path, params=query)
        if path != "/storage/list"
        else client.get(path, params=query)
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "credentials_in_url"
    assert "request body" in answer.json()["detail"]


def test_unknown_user_and_wrong_password_look_the_same(make_app_client):
    """Same status and body, and the same work: each attempt verifies one Argon2id hash with
    the configured parameters (an unknown name against a dummy hash). Counting the real
    verifications instead of timing them keeps the test independent of the machine's load."""
    app = make_app_client(client_ip="203.0.113.14")
    account = register(app)
    hashing = app.app.state.runtime.hashing
    verified: list[str] = []
    real_verify = hashing._verify

    def counting_verify(password_hash: str, password: bytes) -> bool:
        verified.append(password_hash.rsplit("$", 2)[0])  # algorithm and cost, not salt/hash
        return real_verify(password_hash, password)

    hashing._verify = counting_verify

    def attempt(username: str) -> tuple[int, bytes, list[str]]:
        verified.clear()
        answer = app.post("/auth/password", json={"username": username, "password": "wrong " * 4})
        return answer.status_code, answer.content, list(verified)

    unknown, wrong = attempt(_name()), attempt(account.username)
    assert unknown[:2] == wrong[:2] and unknown[0] == 401
    assert unknown[2] == wrong[2] == ["$argon2id$v=19$m=19456,t=2,p=1"]


@pytest.mark.parametrize(
    "body",
    [
        '{"username": "a\\u0000b", "password": "wrong wrong wrong wrong"}',
        '{"username": "\\ud800x", "password": "\\udfff wrong wrong wrong"}',
        '{"username": ";\\u0000\\u0091#\\u0013T", "password": "x"}',
    ],
)
def test_names_no_account_can_have_fail_like_unknown_ones(client, body):
    # NUL cannot reach PostgreSQL and a lone surrogate cannot be encoded: neither may be a 500.
    answer = client.post(
        "/auth/password", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code in (400, 401), answer.text
    assert answer.status_code == 401 or "detail" in answer.json()


def test_a_refresh_token_that_cannot_be_encoded_is_just_invalid(client):
    answer = client.post(
        "/auth/refresh",
        content='{"refresh_token": "\\udc80abc"}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code in (400, 401), answer.text


def test_login_form_rejects_other_grants_and_media_types(client, account):
    grant = client.post(
        "/auth/password",
        data={
            "grant_type": "client_credentials",
            "username": account.username,
            "password": PASSWORD,
        },
    )
    assert grant.status_code == 400 and grant.json()["code"] == "unsupported_grant_type"
    xml = client.post("/auth/password", content=b"<x/>", headers={"Content-Type": "text/xml"})
    assert xml.status_code == 415
    broken = client.post(
        "/auth/password", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400


def test_logout_ends_the_session_at_once(client, account):
    assert client.post("/auth/logout", headers=account.headers).status_code == 204
    assert client.get("/storage/list", headers=account.headers).status_code == 401
    refresh = client.post("/auth/refresh", json={"refresh_token": account.tokens["refresh_token"]})
    assert refresh.status_code == 401


def test_logout_with_only_the_refresh_token(client, account):
    answer = client.post("/auth/logout", json={"refresh_token": account.tokens["refresh_token"]})
    assert answer.status_code == 204
    assert client.get("/storage/list", headers=account.headers).status_code == 401


def test_logout_all_sessions(client, account):
    second = client.post(
        "/auth/password", json={"username": account.username, "password": PASSWORD}
    )
    other = {"Authorization": f"Bearer {second.json()['access_token']}"}
    answer = client.post("/auth/logout", json={"all_sessions": True}, headers=account.headers)
    assert answer.status_code == 204
    assert client.get("/storage/list", headers=other).status_code == 401


def test_logout_needs_a_credential(client):
    assert client.post("/auth/logout").status_code == 401
    assert client.post("/auth/logout", json={"refresh_token": "nope"}).status_code == 401


def test_password_change_revokes_every_session(client, account):
    new_password = "a completely different passphrase 7"
    wrong = client.post(
        "/auth/password/change",
        json={"current_password": "not it at all, sorry", "new_password": new_password},
        headers=account.headers,
    )
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_current_password"
    changed = client.post(
        "/auth/password/change",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=account.headers,
    )
    assert changed.status_code == 200, changed.text
    assert client.get("/storage/list", headers=account.headers).status_code == 401
    old_refresh = client.post(
        "/auth/refresh", json={"refresh_token": account.tokens["refresh_token"]}
    )
    assert old_refresh.status_code == 401
    fresh = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    assert client.get("/storage/list", headers=fresh).status_code == 200
    assert (
        client.post(
            "/auth/password", json={"username": account.username, "password": PASSWORD}
        ).status_code
        == 401
    )
    assert (
        client.post(
            "/auth/password", json={"username": account.username, "password": new_password}
        ).status_code
        == 200
    )


def test_passwords_are_stored_as_argon2id_at_owasp_minimum(client, account, pg_db):
    with pg_db.connect() as conn:
        (stored,) = conn.execute(
            "SELECT password_hash FROM api_users WHERE username = %s", (account.username,)
        ).fetchone()
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in stored


def test_failed_logins_are_throttled_per_account(make_app_client, pg_db):
    app = make_app_client(
        client_ip="203.0.113.10", LOGIN_MAX_FAILURES_PER_ACCOUNT="3", LOGIN_WINDOW_S="120"
    )
    account = register(app)
    for _ in range(3):
        bad = app.post("/auth/password", json={"username": account.username, "password": "x" * 20})
        assert bad.status_code == 401
    # Over the limit even the right password waits: guessing can't continue.
    blocked = app.post("/auth/password", json={"username": account.username, "password": PASSWORD})
    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["retry-after"]) <= 120
    # Throttled attempts don't extend the lock-out; other accounts are unaffected.
    other = register(app)
    assert (
        app.post(
            "/auth/password", json={"username": other.username, "password": PASSWORD}
        ).status_code
        == 200
    )
    with pg_db.connect() as conn:
        events = conn.execute(
            "SELECT count(*) FROM api_audit_events WHERE event = 'login_throttled' "
            "AND client_ip = '203.0.113.10'"
        ).fetchone()[0]
    assert events == 1
    metrics = app.get("/metrics").text
    assert 'api_auth_events_total{event="login_throttled"}' in metrics


def test_failed_logins_are_throttled_per_address(make_app_client):
    app = make_app_client(client_ip="203.0.113.11", LOGIN_MAX_FAILURES_PER_ADDRESS="4")
    for _ in range(4):
        bad = app.post("/auth/password", json={"username": _name(), "password": "x" * 20})
        assert bad.status_code == 401
    blocked = app.post("/auth/password", json={"username": _name(), "password": "x" * 20})
    assert blocked.status_code == 429 and "retry-after" in blocked.headers


def test_registrations_are_throttled_per_address(make_app_client):
    app = make_app_client(client_ip="203.0.113.12", REGISTER_MAX_PER_ADDRESS="2")
    register(app)
    register(app)
    third = app.post("/auth/register", json={"username": _name(), "password": PASSWORD})
    assert third.status_code == 429


def test_refresh_retry_within_grace_window_keeps_the_session(make_app_client):
    app = make_app_client(client_ip="203.0.113.13", REFRESH_REUSE_GRACE_S="30")
    account = register(app)
    first = app.post("/auth/refresh", json={"refresh_token": account.tokens["refresh_token"]})
    # The client lost the answer and retries with the same token.
    retry = app.post("/auth/refresh", json={"refresh_token": account.tokens["refresh_token"]})
    assert first.status_code == retry.status_code == 200
    for tokens in (first.json(), retry.json()):
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert app.get("/auth/me", headers=headers).status_code == 200


def test_refresh_accepts_the_oauth2_form(client, account):
    answer = client.post(
        "/auth/refresh",
        data={"grant_type": "refresh_token", "refresh_token": account.tokens["refresh_token"]},
    )
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"


def test_a_login_burst_leaves_worker_threads_to_other_routes(api_server, account):
    """60 logins at once queue for a few hashing slots on the event loop; a route that needs
    a worker thread (GET /auth/me) is still served while they wait."""
    url = api_server.base_url
    body = {"username": account.username, "password": PASSWORD}
    with concurrent.futures.ThreadPoolExecutor(max_workers=61) as pool:
        logins = [
            pool.submit(httpx.post, url + "/auth/password", json=body, timeout=60)
            for _ in range(60)
        ]
        time.sleep(0.2)  # let the burst arrive
        me = httpx.get(url + "/auth/me", headers=account.headers, timeout=60)
        pending_after_me = sum(not f.done() for f in logins)
        # Every login succeeds: none timed out waiting for a thread or a connection.
        assert all(f.result().status_code == 200 for f in logins)
    assert me.status_code == 200
    assert pending_after_me > 0, "the burst ended before /auth/me was answered"
