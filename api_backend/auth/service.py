"""Account rules: registration, login, refresh-token rotation, logout, password change.

Runs on worker threads (the endpoints are sync): Argon2 blocks only the calling thread.
Writes are flushed here and committed once by the request (`SessionDep`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..core.config import Settings
from ..core.errors import BadRequest, Conflict, Unauthorized
from ..core.metrics import AUTH_EVENTS, PASSWORD_HASH_SECONDS
from ..core.security import (
    PasswordHashing,
    create_access_token,
    new_public_id,
    new_refresh_token,
    new_session_id,
    normalize_password,
    refresh_token_digest,
    seal_successor,
    unseal_successor,
)
from ..models import AuthSession, RefreshToken, User, utcnow
from . import repository as repo
from .passwords import check_password
from .principal import Principal
from .revocation import RevokedSessions
from .schemas import (
    USERNAME_PATTERN,
    RegisterResponse,
    TokenResponse,
    UserPublic,
    normalize_username,
)
from .throttle import Throttle

log = logging.getLogger(__name__)

BAD_CREDENTIALS = "Incorrect username or password"


def user_public(user: User, settings: Settings) -> UserPublic:
    return UserPublic(
        id=user.public_id,
        username=user.username,
        namespace=settings.minio_bucket_prefix + user.public_id,
        created_at=user.created_at,
    )


@dataclass
class AuthService:
    session: Session
    settings: Settings
    hashing: PasswordHashing
    throttle: Throttle
    revoked: RevokedSessions
    client_ip: str

    # Events --------------------------------------------------------------------------

    def _event(self, event: str, user: User | None = None, level=logging.INFO, **detail) -> None:
        repo.audit(
            self.session,
            event,
            user_id=user.id if user else None,
            client_ip=self.client_ip,
            **detail,
        )
        AUTH_EVENTS.labels(event=event).inc()
        log.log(
            level,
            event.replace("_", " "),
            extra={"event": event, "user": user.public_id if user else None, **detail},
        )

    def _hash(self, password: str) -> str:
        with PASSWORD_HASH_SECONDS.time():
            return self.hashing.hash(password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        with PASSWORD_HASH_SECONDS.time():
            return self.hashing.verify(password_hash, password)

    # Tokens --------------------------------------------------------------------------

    def _start_session(self, user: User) -> AuthSession:
        now = utcnow()
        return repo.add(
            self.session,
            AuthSession(
                id=new_session_id(),
                user_id=user.id,
                created_at=now,
                expires_at=now + timedelta(seconds=self.settings.session_max_age_s),
                client_ip=self.client_ip,
            ),
        )

    def _issue_tokens(self, user: User, auth_session: AuthSession) -> TokenResponse:
        now = utcnow()
        refresh = new_refresh_token()
        expires_at = min(
            now + timedelta(seconds=self.settings.refresh_token_ttl_s), auth_session.expires_at
        )
        repo.add(
            self.session,
            RefreshToken(
                session_id=auth_session.id,
                token_hash=refresh_token_digest(refresh),
                created_at=now,
                expires_at=expires_at,
            ),
        )
        return self._token_response(user, auth_session, refresh, expires_at)

    def _token_response(
        self, user: User, auth_session: AuthSession, refresh: str, refresh_expires_at
    ) -> TokenResponse:
        access, ttl = create_access_token(self.settings, user.public_id, auth_session.id)
        remaining_s = (refresh_expires_at - utcnow()).total_seconds()
        return TokenResponse(
            access_token=access,
            refresh_token=refresh,
            expires_in=ttl,
            refresh_expires_in=max(0, int(remaining_s)),
            access=access,
            refresh=refresh,
        )

    def _revoke(self, user: User, reason: str, session_id: str | None = None) -> list[str]:
        ids = repo.revoke_sessions(
            self.session, user_id=user.id, now=utcnow(), reason=reason, session_id=session_id
        )
        self.revoked.add(ids)
        return ids

    def _user_of(self, principal: Principal) -> User:
        user = repo.user_by_public_id(self.session, principal.public_id)
        if user is None or not user.is_active:
            raise Unauthorized("account no longer exists", code="invalid_token")
        return user

    # Use cases -----------------------------------------------------------------------

    def register(self, username: str, password: str) -> RegisterResponse:
        # Throttle first: once an address is throttled, every name gets the same 429.
        self.throttle.register_attempt(self.client_ip)
        name = normalize_username(username)
        check_password(password, self.settings, name)
        if repo.user_by_username(self.session, name) is not None:
            raise Conflict("this username is taken", code="username_taken")
        user = User(public_id=new_public_id(), username=name, password_hash=self._hash(password))
        try:
            repo.add(self.session, user)
        except IntegrityError:
            raise Conflict("this username is taken", code="username_taken") from None
        tokens = self._issue_tokens(user, self._start_session(user))
        self._event("user_registered", user)
        return RegisterResponse(**tokens.model_dump(), user=user_public(user, self.settings))

    def login(self, username: str, password: str) -> TokenResponse:
        name = normalize_username(username)
        attempt = self.throttle.begin_password_check("login", name, self.client_ip)
        # A name outside the registration pattern (NUL, control characters) belongs to no
        # account; it is not sent to the database, and fails like any unknown name.
        possible = re.fullmatch(USERNAME_PATTERN, name) is not None
        user = repo.user_by_username(self.session, name) if possible else None
        usable = user is not None and user.is_active
        # An unknown name is checked against a dummy hash: same status, body and time.
        if not self._verify(user.password_hash if usable else None, password):
            self.throttle.finish(attempt, "failure")
            self._event("login_failed", user if usable else None, level=logging.WARNING)
            raise Unauthorized(BAD_CREDENTIALS, code="invalid_credentials", keep_changes=True)
        self.throttle.finish(attempt, "success")
        if self.hashing.needs_rehash(user.password_hash):
            user.password_hash = self._hash(password)
        tokens = self._issue_tokens(user, self._start_session(user))
        self._event("login_succeeded", user)
        return tokens

    def refresh(self, token: str) -> TokenResponse:
        row = repo.refresh_token_for_update(self.session, refresh_token_digest(token))
        if row is None:
            raise Unauthorized("invalid refresh token", code="invalid_grant")
        family = repo.session_for_update(self.session, row.session_id)
        # Read the clock only once both rows are locked: a parallel refresh of this token has
        # committed by then, so its `used_at` is never later than our `now`.
        now = utcnow()
        user = self.session.get(User, family.user_id)
        if family.revoked_at is not None:
            raise Unauthorized("this session has ended; log in again", code="invalid_grant")
        if row.used_at is not None:
            return self._replay(token, row, family, user, now)
        if row.expires_at <= now or family.expires_at <= now or not user.is_active:
            raise Unauthorized("refresh token expired; log in again", code="invalid_grant")
        row.used_at = now
        family.last_refreshed_at = now
        tokens = self._issue_tokens(user, family)
        row.successor_seal = seal_successor(token, tokens.refresh_token)
        return tokens

    def _replay(
        self, token: str, row: RefreshToken, family: AuthSession, user: User, now
    ) -> TokenResponse:
        """A spent token again. Within the grace window (the client lost our answer and
        retries) it gets the same successor as the first time, still unused; otherwise two
        parties hold the token, one of them stole it, and the session ends."""
        grace = timedelta(seconds=self.settings.refresh_reuse_grace_s)
        successor = unseal_successor(token, row.successor_seal) if row.successor_seal else None
        successor_row = (
            repo.refresh_token_by_digest(self.session, refresh_token_digest(successor))
            if successor
            else None
        )
        if (
            grace
            and now - row.used_at <= grace
            and successor_row is not None
            and successor_row.used_at is None
        ):
            if successor_row.expires_at <= now or family.expires_at <= now or not user.is_active:
                raise Unauthorized("refresh token expired; log in again", code="invalid_grant")
            return self._token_response(user, family, successor, successor_row.expires_at)
        self._revoke(user, "refresh_token_reuse", session_id=family.id)
        self._event("refresh_token_reuse", user, level=logging.WARNING, session_id=family.id)
        raise Unauthorized(
            "refresh token was already used; the session has been revoked",
            code="invalid_grant",
            keep_changes=True,
        )

    def logout(
        self, principal: Principal | None, refresh_token: str | None, all_sessions: bool
    ) -> None:
        session_ids: set[str] = set()
        user: User | None = None
        if principal is not None:
            user = self._user_of(principal)
            session_ids.add(principal.session_id)
        if refresh_token:
            row = repo.refresh_token_for_update(self.session, refresh_token_digest(refresh_token))
            family = self.session.get(AuthSession, row.session_id) if row else None
            if family is not None and (user is None or family.user_id == user.id):
                user = user or self.session.get(User, family.user_id)
                session_ids.add(family.id)
        if user is None:
            raise Unauthorized(
                "send a valid bearer access token or refresh token", code="invalid_token"
            )
        if all_sessions:
            self._revoke(user, "logout")
        else:
            for sid in session_ids:
                self._revoke(user, "logout", session_id=sid)
        self._event("logout", user, all_sessions=all_sessions)

    def change_password(
        self, principal: Principal, current_password: str, new_password: str
    ) -> TokenResponse:
        user = self._user_of(principal)
        attempt = self.throttle.begin_password_check(
            "password_change", user.username, self.client_ip
        )
        if not self._verify(user.password_hash, current_password):
            self.throttle.finish(attempt, "failure")
            self._event("password_change_failed", user, level=logging.WARNING)
            raise BadRequest(
                "the current password is incorrect",
                code="invalid_current_password",
                keep_changes=True,
            )
        self.throttle.finish(attempt, "success")
        check_password(new_password, self.settings, user.username)
        if normalize_password(new_password) == normalize_password(current_password):
            raise BadRequest("the new password must differ from the current one")
        user.password_hash = self._hash(new_password)
        user.password_changed_at = utcnow()
        # Every session ends, this one included; the caller continues with the new tokens.
        self._revoke(user, "password_change")
        self._event("password_changed", user)
        return self._issue_tokens(user, self._start_session(user))

    def me(self, principal: Principal) -> UserPublic:
        return user_public(self._user_of(principal), self.settings)
