"""Failures of the outside world, split by whether trying again can help.

Connectors raise these instead of their client library's exceptions, so callers (the worker's
retry policy, the listener's answer to MinIO, the batch CLI) decide without knowing boto3 or
psycopg. The message is one line and safe to store as a status reason: no credentials, no URLs
with secrets in them. They live below both `connectors` (which raise them) and `ingest` (which
decides on them through its ports), so neither package imports the other.
"""

from __future__ import annotations


class TransientError(Exception):
    """A service we depend on is unreachable or overloaded; the same call may succeed later."""


class TerminalError(Exception):
    """Retrying the same call will fail the same way (bad input, missing object, no permission)."""


class ObjectNotFound(TerminalError):
    """The object (or its bucket) does not exist in the object store."""


class ConfigurationError(Exception):
    """A setting of this deployment makes the work impossible; fixing the setting fixes it."""
