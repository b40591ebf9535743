"""`since`/`until` of GET /jobs: ISO 8601 date-times (or dates), UTC when no zone is given."""

from __future__ import annotations

from datetime import UTC, datetime

from ..core.errors import Unprocessable


def parse_instant(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise Unprocessable(
            f"{name} must be an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z",
            code="invalid_time",
        ) from None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)
