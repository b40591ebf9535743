"""Password hashing and token helpers. Nothing here touches the database or HTTP."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import threading
import time
import unicodedata
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from .config import Settings

log = logging.getLogger(__name__)

JWT_ALGORITHM = "HS256"  # the only algorithm accepted; "none" and RS/HS confusion are refused
ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a claim value, not a secret
ACCESS_TOKEN_HEADER_TYPE = "at+jwt"  # noqa: S105 - RFC 9068 header type
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "nbf", "exp", "jti", "typ", "sid"]
CLOCK_SKEW_S = 5


def normalize_password(password: str) -> bytes:
    """NFKC, as NIST SP 800-63B-4 recommends, so the same password typed on another keyboard
    or OS still matches. Nothing is trimmed or truncated."""
    return unicodedata.normalize("NFKC", password).encode("utf-8", "surrogatepass")


def _lower_thread_priority() -> None:
    # Hashing is deliberately expensive; at a lower CPU priority it yields the cores to the
    # event loops serving cheap requests, so a burst of logins doesn't stretch their latency.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class PasswordHashing:
    """Argon2id with the configured cost, run on its own small pool of low-priority threads.

    Callers block their own (worker) thread on the result, never the event loop.
    """

    def __init__(self, settings: Settings):
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        self._pool = ThreadPoolExecutor(
            max_workers=settings.password_hash_threads,
            thread_name_prefix="argon2",
            initializer=_lower_thread_priority,
        )
        # Verified against when the username is unknown, so both cases cost the same.
        self._dummy_hash = self._pool.submit(self._hasher.hash, secrets.token_bytes(16)).result()

    def hash(self, password: str) -> str:
        return self._pool.submit(self._hasher.hash, normalize_password(password)).result()

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; with `password_hash` None, burn the same time."""
        target = password_hash or self._dummy_hash
        ok = self._pool.submit(self._verify, target, normalize_password(password)).result()
        return ok and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: bytes) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# Tokens ----------------------------------------------------------------------------------


class InvalidToken(Exception):
    """The access token can't be trusted; the message is safe to show to the client."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    subject: str  # the user's public id
    session_id: str
    token_id: str
    expires_at: float


def new_public_id() -> str:
    """A user's immutable, random public id (96 bits, lowercase hex)."""
    return secrets.token_hex(12)


def new_session_id() -> str:
    return uuid.uuid4().hex


def new_refresh_token() -> str:
    """Opaque, 256 random bits; only its digest is stored."""
    return secrets.token_urlsafe(32)


def refresh_token_digest(token: str) -> str:
    # A plain SHA-256 suffices: the token has 256 bits of entropy, so its digest can't be
    # reversed by guessing, and a database leak yields no usable refresh token.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


_SUCCESSOR_PAD_CONTEXT = b"benchsuite/refresh-successor/v1\x00"


def _successor_pad(predecessor: str, length: int) -> bytes:
    digest = hashlib.sha512(_SUCCESSOR_PAD_CONTEXT + predecessor.encode("utf-8", "surrogatepass"))
    return digest.digest()[:length]


def seal_successor(predecessor: str, successor: str) -> str:
    """The successor refresh token, encrypted with a one-time pad derived from its
    predecessor: only a client presenting the predecessor can get it back (a replay within
    the grace window), and a database leak yields no usable token (only digests of the
    predecessors are stored)."""
    raw = successor.encode("ascii")
    if len(raw) > 64:
        raise ValueError("refresh tokens are at most 64 characters")
    pad = _successor_pad(predecessor, len(raw))
    return bytes(a ^ b for a, b in zip(raw, pad, strict=True)).hex()


def unseal_successor(predecessor: str, sealed: str) -> str | None:
    try:
        raw = bytes.fromhex(sealed)[:64]
        pad = _successor_pad(predecessor, len(raw))
        return bytes(a ^ b for a, b in zip(raw, pad, strict=True)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None


def create_access_token(settings: Settings, subject: str, session_id: str) -> tuple[str, int]:
    now = int(time.time())
    expires_at = now + settings.access_token_ttl_s
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": expires_at,
        "jti": secrets.token_urlsafe(12),
        "typ": ACCESS_TOKEN_TYPE,
        "sid": session_id,
    }
    token = jwt.encode(
        claims,
        settings.jwt_key(),
        algorithm=JWT_ALGORITHM,
        headers={"typ": ACCESS_TOKEN_HEADER_TYPE},
    )
    return token, settings.access_token_ttl_s


class AccessTokenVerifier:
    """Checks signature, algorithm, issuer, audience, lifetime and type of access tokens.

    A verified token is remembered (a bounded, oldest-first cache) so a client sending the
    same token many times pays the signature check once; its expiry is checked on every use.
    Used from the event loop only (not thread-safe).
    """

    def __init__(self, settings: Settings, cache_size: int = 4096):
        self._key = settings.jwt_key()
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        # A token living longer than we issue them was not made by this service's rules
        # (a leaked key, a forged 10-year token): refused even with a valid signature.
        self._max_lifetime_s = settings.access_token_ttl_s
        self._cache: OrderedDict[str, AccessClaims] = OrderedDict()
        self._cache_size = cache_size

    def verify(self, token: str) -> AccessClaims:
        claims = self._cache.get(token)
        if claims is None:
            claims = self._decode(token)
            self._cache[token] = claims
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        if claims.expires_at + CLOCK_SKEW_S <= time.time():
            self._cache.pop(token, None)
            raise InvalidToken("access token expired")
        return claims

    def _decode(self, token: str) -> AccessClaims:
        try:
            decoded = jwt.decode_complete(
                token,
                self._key,
                algorithms=[JWT_ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=CLOCK_SKEW_S,
                options={"require": REQUIRED_CLAIMS, "verify_signature": True},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("access token expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("invalid access token") from exc
        header, payload = decoded["header"], decoded["payload"]
        if header.get("typ") != ACCESS_TOKEN_HEADER_TYPE or payload.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidToken("not an access token")
        for name in ("sub", "sid", "jti"):
            if not isinstance(payload.get(name), str) or not payload[name]:
                raise InvalidToken("invalid access token")
        for name in ("exp", "iat", "nbf"):
            if isinstance(payload[name], bool) or not isinstance(payload[name], int | float):
                raise InvalidToken("invalid access token")
        if payload["exp"] - payload["iat"] > self._max_lifetime_s:
            raise InvalidToken("access token lifetime exceeds the maximum")
        return AccessClaims(
            subject=payload["sub"],
            session_id=payload["sid"],
            token_id=payload["jti"],
            expires_at=float(payload["exp"]),
        )
