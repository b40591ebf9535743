"""Process-wide logging for the listener and the worker: plain text, or JSON (LOG_JSON=1)."""

from __future__ import annotations

import logging
import sys

from analysis_module.settings import AnalysisSettings


def configure_logging(settings: AnalysisSettings) -> None:
    handler = logging.StreamHandler(sys.stdout)
    if settings.log_json:
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", timestamp=True)
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # one line per HTTP request to S3 is noise at INFO
    for name in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(name).setLevel(logging.WARNING)
