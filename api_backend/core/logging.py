"""JSON logs for the service, and an access log that never shows query strings.

Query strings can hold credentials a careless client put there (older clients sent
passwords as `?p=`); they are refused with a 400, and they must not reach the logs either.
A report link's token (`/reports/<token>`) opens a job's page without a login, so the access
log shows that path without it.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

_HANDLER_NAME = "api_backend-json"


REPORT_LINK_PREFIX = "/reports/"


class DropQueryString(logging.Filter):
    """Rewrites uvicorn's access-log record so its path has no `?query` and no report token."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = args[2].split("?", 1)[0]
            if path.startswith(REPORT_LINK_PREFIX):
                path = REPORT_LINK_PREFIX + "<token>"
            record.args = (*args[:2], path, *args[3:])
        return True


def configure_logging(level: str) -> None:
    """Idempotent: safe when several apps are built in one process (tests)."""
    logger = logging.getLogger("api_backend")
    logger.setLevel(level.upper())
    if not any(h.get_name() == _HANDLER_NAME for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(
            JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", timestamp=False)
        )
        logger.addHandler(handler)
        logger.propagate = False
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, DropQueryString) for f in access.filters):
        access.addFilter(DropQueryString())
