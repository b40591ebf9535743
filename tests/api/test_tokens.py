"""Forged, altered and misused tokens are refused; a correctly made token is accepted."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def claims(account, api_server) -> dict:
    """The claims of the account's real access token (signature not checked here)."""
    return jwt.decode(account.access, options={"verify_signature": False})


@pytest.fixture
def secret(api_server) -> str:
    return api_server.settings_env["JWT_SECRET"]


def _status(client, token: str) -> int:
    return client.get("/storage/list", headers={"Authorization": f"Bearer {token}"}).status_code


def test_real_token_has_required_claims(account, claims):
    header = jwt.get_unverified_header(account.access)
    assert header == {"alg": "HS256", "typ": "at+jwt"}
    assert {"iss", "aud", "sub", "iat", "nbf", "exp", "jti", "typ", "sid"} <= claims.keys()
    assert claims["typ"] == "access"
    assert claims["sub"] == account.user["id"]
    assert claims["exp"] - claims["iat"] <= 900


def test_a_correctly_made_token_is_accepted(client, claims, secret):
    """The control for the cases below: only the altered part makes them fail."""
    token = jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "at+jwt"})
    assert _status(client, token) == 200


def test_alg_none_is_refused(client, claims):
    token = f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{_b64(claims)}."
    answer = client.get("/storage/list", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"aud": "someone-else"}, "wrong audience"),
        ({"iss": "https://evil.example"}, "wrong issuer"),
        ({"exp": int(time.time()) - 60, "iat": int(time.time()) - 1000}, "expired"),
        ({"typ": "refresh"}, "not an access token"),
        ({"jti": None}, "no token id"),
        ({"sid": None}, "no session"),
        ({"nbf": None}, "no nbf"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"exp": int(time.time()) + 10 * 365 * 86400}, "lives longer than ACCESS_TOKEN_TTL_S"),
        ({"iat": int(time.time()) - 3000}, "issued 50 minutes before it expires"),
    ],
)
def test_altered_claims_are_refused(client, claims, secret, change, why):
    altered = {k: v for k, v in {**claims, **change}.items() if v is not None}
    token = jwt.encode(altered, secret, algorithm="HS256", headers={"typ": "at+jwt"})
    assert _status(client, token) == 401, why


def test_other_algorithm_with_the_right_key_is_refused(client, claims, secret):
    token = jwt.encode(claims, secret, algorithm="HS512", headers={"typ": "at+jwt"})
    assert _status(client, token) == 401


def test_wrong_header_type_is_refused(client, claims, secret):
    token = jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "JWT"})
    assert _status(client, token) == 401


def test_token_signed_with_another_key_is_refused(client, claims):
    token = jwt.encode(claims, "x" * 64, algorithm="HS256", headers={"typ": "at+jwt"})
    assert _status(client, token) == 401


def test_tampered_payload_is_refused(client, account, claims):
    header, _, signature = account.access.split(".")
    forged = _b64({**claims, "sub": "0" * 24})
    assert _status(client, f"{header}.{forged}.{signature}") == 401


def test_refresh_token_is_not_an_access_token(client, account):
    assert _status(client, account.tokens["refresh_token"]) == 401


def test_access_token_is_not_a_refresh_token(client, account):
    answer = client.post("/auth/refresh", json={"refresh_token": account.access[:256]})
    assert answer.status_code == 401


def test_missing_or_malformed_authorization(client):
    assert client.get("/storage/list").status_code == 401
    assert client.get("/storage/list", headers={"Authorization": "Basic abc"}).status_code == 401
    assert _status(client, "not.a.jwt") == 401
