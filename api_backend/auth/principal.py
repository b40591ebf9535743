"""Who a request is authenticated as, from a verified access token."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    public_id: str  # the token's `sub`
    session_id: str  # the token's `sid`: its refresh-token family
    namespace: str  # MINIO_BUCKET_PREFIX + public_id: the first segment of the user's keys
