"""Refresh rotation under races and replays, registration and login throttling that doesn't
reveal names or lock owners out, forwarded addresses, and normalised names and passwords."""

from __future__ import annotations

import concurrent.futures
import hashlib
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from api_backend.api.forwarded import client_address
from api_backend.core.config import Settings
from tests.support.servers import AppProcess

from .conftest import API_UVICORN_ARGS, PASSWORD, api_env, register


def _refresh(url: str, token: str) -> httpx.Response:
    return httpx.post(url + "/auth/refresh", json={"refresh_token": token}, timeout=60)


def _parallel_refreshes(url: str, token: str, n: int) -> list[httpx.Response]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _: _refresh(url, token), range(n)))


def test_parallel_refreshes_of_one_token_never_both_succeed_without_grace(api_server):
    """REFRESH_REUSE_GRACE_S=0 (the session's server): one success at most, every trial."""
    url = api_server.base_url
    with httpx.Client(base_url=url, timeout=60) as http:
        account = register(http)
        for _ in range(16):
            login = http.post(
                "/auth/password", json={"username": account.username, "password": PASSWORD}
            ).json()
            answers = _parallel_refreshes(url, login["refresh_token"], 2)
            assert sum(a.status_code == 200 for a in answers) <= 1, [a.text for a in answers]


@pytest.fixture(scope="module")
def grace_server(pg_db, s3_endpoint, api_bucket):
    env = api_env(pg_db, s3_endpoint, api_bucket, REFRESH_REUSE_GRACE_S="60")
    with AppProcess("api_backend.main:app", env, extra_args=API_UVICORN_ARGS) as server:
        yield server


def test_replays_within_the_grace_window_get_the_same_successor(grace_server, pg_db):
    url = grace_server.base_url
    with httpx.Client(base_url=url, timeout=60) as http:
        account = register(http)
    answers = _parallel_refreshes(url, account.tokens["refresh_token"], 8)
    assert [a.status_code for a in answers] == [200] * 8
    successors = {a.json()["refresh_token"] for a in answers}
    assert len(successors) == 1, "the session forked"
    (successor,) = successors
    for answer in answers:
        me = httpx.get(
            url + "/auth/me", headers={"Authorization": f"Bearer {answer.json()['access_token']}"}
        )
        assert me.status_code == 200
    with pg_db.connect() as db:
        live = db.execute(
            """SELECT count(*) FROM api_refresh_tokens t JOIN api_sessions s
               ON s.id = t.session_id JOIN api_users u ON u.id = s.user_id
               WHERE u.username = %s AND t.used_at IS NULL""",
            (account.username,),
        ).fetchone()[0]
    assert live == 1
    # The successor works once; then replaying the original (its successor spent) ends it all.
    assert _refresh(url, successor).status_code == 200
    replay = _refresh(url, account.tokens["refresh_token"])
    assert replay.status_code == 401 and replay.json()["code"] == "invalid_grant"


def test_a_throttled_address_learns_nothing_about_taken_names(make_app_client):
    app = make_app_client(client_ip="198.51.100.30", REGISTER_MAX_PER_ADDRESS="3")
    taken = register(app).username
    # A taken name counts as an attempt too: enumeration is throttled like registration.
    assert (
        app.post("/auth/register", json={"username": taken, "password": PASSWORD}).status_code
        == 409
    )
    register(app)
    answers = [
        app.post("/auth/register", json={"username": name, "password": PASSWORD})
        for name in (taken, f"free-{uuid.uuid4().hex[:10]}")
    ]
    assert [a.status_code for a in answers] == [429, 429]
    assert answers[0].json() == answers[1].json()
    assert answers[0].headers["retry-after"] == answers[1].headers["retry-after"]


def test_an_attackers_guesses_do_not_lock_the_owner_out(make_app_client):
    limits = {"LOGIN_MAX_FAILURES_PER_ACCOUNT": "10", "LOGIN_SLOWDOWN_AFTER_FAILURES": "20"}
    attacker = make_app_client(client_ip="198.51.100.40", **limits)
    owner_app = make_app_client(client_ip="198.51.100.41", **limits)
    owner = register(owner_app)
    answers = [
        attacker.post("/auth/password", json={"username": owner.username, "password": "x" * 20})
        for _ in range(11)
    ]
    assert [a.status_code for a in answers] == [401] * 10 + [429]
    # The attacker's address stays throttled for this account, even with the right password.
    right = {"username": owner.username, "password": PASSWORD}
    assert attacker.post("/auth/password", json=right).status_code == 429
    assert owner_app.post("/auth/password", json=right).status_code == 200


def test_a_distributed_attack_slows_the_account_down(make_app_client, pg_db):
    app = make_app_client(
        client_ip="198.51.100.50", LOGIN_SLOWDOWN_AFTER_FAILURES="5", LOGIN_SLOWDOWN_MAX_S="600"
    )
    owner = register(app)
    key = hashlib.sha256(owner.username.encode()).hexdigest()
    with pg_db.connect() as db:  # 12 failures just now, from 12 addresses
        for i in range(12):
            db.execute(
                """INSERT INTO api_auth_attempts (created_at, kind, account_key, client_ip,
                   outcome) VALUES (%s, 'login', %s, %s, 'failure')""",
                (datetime.now(UTC), key, f"192.0.2.{i}"),
            )
    blocked = app.post("/auth/password", json={"username": owner.username, "password": PASSWORD})
    assert blocked.status_code == 429
    # 2^8 s after the latest failure, capped at LOGIN_SLOWDOWN_MAX_S; never the whole window.
    assert 200 <= int(blocked.headers["retry-after"]) <= 256


def _audited_address(pg_db, username_marker: str) -> str:
    with pg_db.connect() as db:
        return db.execute(
            "SELECT client_ip FROM api_audit_events WHERE event = 'user_registered' "
            "AND user_id = (SELECT id FROM api_users WHERE username = %s)",
            (username_marker,),
        ).fetchone()[0]


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(make_app_client, pg_db):
    spoofed = {"X-Forwarded-For": "198.51.100.99"}
    plain = make_app_client(client_ip="127.0.0.1")
    name = f"xff-{uuid.uuid4().hex[:10]}"
    plain.post("/auth/register", json={"username": name, "password": PASSWORD}, headers=spoofed)
    assert _audited_address(pg_db, name) == "127.0.0.1"
    proxied = make_app_client(client_ip="10.1.2.3", TRUSTED_PROXIES="10.0.0.0/8")
    name = f"xff-{uuid.uuid4().hex[:10]}"
    proxied.post(
        "/auth/register",
        json={"username": name, "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.7, 198.51.100.99, 10.9.9.9"},
    )
    assert _audited_address(pg_db, name) == "198.51.100.99"


def test_the_served_api_ignores_forwarded_for_from_loopback(client, pg_db):
    """The deployed command (uvicorn --no-proxy-headers, TRUSTED_PROXIES unset): a client on
    127.0.0.1 can't pose as another address to dodge throttling or the audit log."""
    name = f"xff-{uuid.uuid4().hex[:10]}"
    answer = client.post(
        "/auth/register",
        json={"username": name, "password": PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.77"},
    )
    assert answer.status_code == 201
    assert _audited_address(pg_db, name) == "127.0.0.1"


def test_client_address_walks_forwarded_for_from_the_right():
    nets = Settings(
        app_env="development", trusted_proxies="10.0.0.0/8, ::1"
    ).trusted_proxy_networks()
    assert client_address("10.0.0.1", ["1.2.3.4, 203.0.113.5"], nets) == "203.0.113.5"
    assert client_address("10.0.0.1", ["203.0.113.5", "10.0.0.2"], nets) == "203.0.113.5"
    assert client_address("203.0.113.9", ["1.2.3.4"], nets) == "203.0.113.9"
    assert client_address("10.0.0.1", ["not-an-ip"], nets) == "10.0.0.1"
    assert client_address("10.0.0.1", [], nets) == "10.0.0.1"
    assert client_address("10.0.0.1", ["1.2.3.4"], ()) == "10.0.0.1"


def test_a_bad_trusted_proxies_setting_is_refused():
    with pytest.raises(ValueError, match="TRUSTED_PROXIES must be"):
        Settings(app_env="development", trusted_proxies="10.0.0.0/8, proxy.local")


def test_names_are_nfkc_casefolded_at_registration_and_login(client):
    suffix = uuid.uuid4().hex[:8]
    kelvin = f"\u212aelvin-{suffix}"  # KELVIN SIGN, NFKC "K"
    created = client.post("/auth/register", json={"username": kelvin, "password": PASSWORD})
    assert created.status_code == 201, created.text
    assert created.json()["user"]["username"] == f"kelvin-{suffix}"
    for spelling in (f"kelvin-{suffix}", f"KELVIN-{suffix}", kelvin, f"\uff4belvin-{suffix}"):
        login = client.post("/auth/password", json={"username": spelling, "password": PASSWORD})
        assert login.status_code == 200, spelling
    again = client.post(
        "/auth/register", json={"username": f"Kelvin-{suffix}", "password": PASSWORD}
    )
    assert again.status_code == 409


def test_a_new_password_nfkc_equal_to_the_old_one_counts_as_the_same(client, account):
    fullwidth = PASSWORD.replace("42", "\uff14\uff12")  # "42" in full-width digits
    answer = client.post(
        "/auth/password/change",
        json={"current_password": PASSWORD, "new_password": fullwidth},
        headers=account.headers,
    )
    assert answer.status_code == 400
    assert "differ" in answer.json()["detail"]
    login = client.post(
        "/auth/password", json={"username": account.username, "password": fullwidth}
    )
    assert login.status_code == 200
