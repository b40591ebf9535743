"""A job's report page, and signed links that open it without an access token.

The page itself comes from `job_report` (shared with the batch CLI's `--report DIR`). A
report link is a capability for one job's page: `<payload>.<mac>`, the payload naming the job's
source, its owner and the expiry, the MAC an HMAC-SHA256 keyed with BUCKET_TOKEN_SECRET under
a context of its own (so it is never valid as a listing token, nor those as a link). It is
meant to be mailed at the end of a job; the page is served with `Referrer-Policy: no-referrer`
so the link does not leak from it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

from job_report import JobReport, render_report

from ..core.config import Settings
from ..core.errors import NotFound
from . import repository as repo

_LINK_CONTEXT = b"benchsuite report link v1\x00"
REPORT_POINTS = 600  # per step and node: a 24-hour 1 Hz job stays a small page
SAMPLE_COLUMNS = ["step", "node", "epoch_s", "power_w", "price_eur_per_mwh"]
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, max-age=60",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(settings: Settings, payload: bytes) -> bytes:
    return hmac.new(settings.bucket_token_key(), _LINK_CONTEXT + payload, hashlib.sha256).digest()


def sign_link(settings: Settings, source: str, owner: str, *, now: float | None = None) -> tuple:
    """(token, expiry as epoch seconds) of a link to the report of `source`."""
    expires = int((now if now is not None else time.time()) + settings.report_link_ttl_s)
    payload = json.dumps({"s": source, "o": owner, "e": expires}, separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_mac(settings, payload))}", expires


def open_link(settings: Settings, token: str, *, now: float | None = None) -> tuple[str, str]:
    """(source, owner) of a valid, unexpired link; NotFound otherwise (no detail: a guess
    learns nothing)."""
    try:
        payload_b64, mac_b64 = token.split(".")
        payload, mac = _unb64(payload_b64), _unb64(mac_b64)
        valid = hmac.compare_digest(mac, _mac(settings, payload))
        data = json.loads(payload) if valid else None
    except (ValueError, binascii.Error, UnicodeDecodeError):
        data = None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("s"), str)
        or not isinstance(data.get("o"), str)
        or not isinstance(data.get("e"), int)
        or data["e"] < (now if now is not None else time.time())
    ):
        raise NotFound("no such report (the link is unknown or has expired)")
    return data["s"], data["o"]


def build_report(session, source: str, summary: dict[str, Any]) -> JobReport:
    """Everything the page shows, read with the API's own queries."""
    breakdown = repo.step_node_rows(session, source)
    table = summary.get("table_name")
    samples: list[dict[str, Any]] = []
    if repo.is_job_table(table):
        present = repo.timeseries_columns(session, table) or []
        columns = [c for c in SAMPLE_COLUMNS if c in present]
        if "epoch_s" in columns and "power_w" in columns:
            rows = repo.timeseries(
                session,
                table,
                columns,
                step=None,
                node=None,
                max_points=REPORT_POINTS,
                row_limit=REPORT_POINTS * 2000,
            )
            samples = [dict(zip(columns, row, strict=True)) for row in rows]
    job = summary.get("job_id")
    return JobReport(
        title=f"Slurm job {job}" if job else f"Profile {source.rsplit('/', 1)[-1]}",
        summary=summary,
        steps=[r for r in breakdown if r["level"] == "step"],
        nodes=[r for r in breakdown if r["level"] == "node"],
        files=repo.job_files(session, source),
        samples=samples,
        footer=f"Analysed {summary.get('analysed_at')}; definitions: docs/energy-metrics.md.",
    )


def page(session, source: str, summary: dict[str, Any] | None) -> str:
    if summary is None:
        raise NotFound("this job has no report (yet): it is not analysed")
    return render_report(build_report(session, source, summary))
