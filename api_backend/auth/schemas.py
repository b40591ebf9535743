"""Request and response bodies of /auth. No schema here carries a password hash."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Checked with re.fullmatch, and by pydantic (whose `$` is the end of the text): a trailing
# newline never passes.
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._@+-]{2,63}$"
PASSWORD_FIELD_MAX = 1024  # hard cap before any hashing; the policy's limit is lower


def normalize_username(username: str) -> str:
    """NFKC, then case-folded (NIST SP 800-63B): registration and login compare names in this
    form, so `ALICE`, `alice` and `\u212alvin`/`kelvin` (Kelvin sign) name one account each."""
    folded = unicodedata.normalize("NFKC", username).casefold()
    return unicodedata.normalize("NFKC", folded)


EXAMPLE_PASSWORD = "correct horse battery staple on the cluster"  # noqa: S105 - docs example


class RegisterRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"username": "alice", "password": EXAMPLE_PASSWORD}]}
    )

    username: str = Field(
        pattern=USERNAME_PATTERN,
        description=(
            "3-64 characters: letters, digits and `._@+-`; case-insensitive (stored NFKC "
            "and case-folded, so `Alice` and `ALICE` are the same account)."
        ),
    )
    password: str = Field(
        max_length=PASSWORD_FIELD_MAX,
        description="At least PASSWORD_MIN_LENGTH (default 15) characters, any characters.",
    )

    @field_validator("username", mode="before")
    @classmethod
    def _normalised_name(cls, value: Any) -> Any:
        return normalize_username(value) if isinstance(value, str) else value


class LoginRequest(BaseModel):
    """The JSON form of the login body (the OAuth2 password form is accepted too)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"username": "alice", "password": EXAMPLE_PASSWORD}]}
    )

    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=PASSWORD_FIELD_MAX)
    grant_type: str | None = Field(None, description='Optional; when given, must be "password".')


class RefreshRequest(BaseModel):
    """`refresh` (the older clients' name) or `refresh_token` (OAuth2's name)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"refresh_token": "3q2-7w..."}]})

    refresh: str | None = Field(None, min_length=1, max_length=256)
    refresh_token: str | None = Field(None, min_length=1, max_length=256)
    grant_type: str | None = Field(None, description='Optional; when given, "refresh_token".')

    @model_validator(mode="after")
    def _one_token(self) -> RefreshRequest:
        if not (self.refresh or self.refresh_token):
            raise ValueError("send the refresh token as `refresh_token` (or `refresh`)")
        return self

    @property
    def token(self) -> str:
        return self.refresh_token or self.refresh or ""


class LogoutRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"refresh_token": "3q2-7w...", "all_sessions": False}]}
    )

    refresh: str | None = Field(None, min_length=1, max_length=256)
    refresh_token: str | None = Field(None, min_length=1, max_length=256)
    all_sessions: bool = Field(False, description="End every session of the account.")

    @property
    def token(self) -> str | None:
        return self.refresh_token or self.refresh


class PasswordChangeRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"current_password": EXAMPLE_PASSWORD, "new_password": "a new long passphrase 2"}
            ]
        }
    )

    current_password: str = Field(min_length=1, max_length=PASSWORD_FIELD_MAX)
    new_password: str = Field(max_length=PASSWORD_FIELD_MAX)


class TokenResponse(BaseModel):
    """OAuth2 token response; `access` and `refresh` repeat the tokens for older clients."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9...",
                    "refresh_token": "3q2-7w...",
                    "token_type": "bearer",
                    "expires_in": 900,
                    "refresh_expires_in": 1209600,
                    "access": "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9...",
                    "refresh": "3q2-7w...",
                }
            ]
        }
    )

    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - OAuth2 token type, not a secret
    expires_in: int = Field(description="Seconds the access token stays valid.")
    refresh_expires_in: int = Field(description="Seconds the refresh token stays valid unused.")
    access: str
    refresh: str


class UserPublic(BaseModel):
    id: str = Field(description="Immutable public id; your storage namespace is derived from it.")
    username: str
    namespace: str = Field(description="First path segment of all your objects.")
    created_at: datetime


class RegisterResponse(TokenResponse):
    user: UserPublic
