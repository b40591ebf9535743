"""The benchmark a job ran: one name rule for uploads (`x-amz-meta-benchmark-name`) and for
the owner's PATCH /jobs/{id}."""

from __future__ import annotations

import re

from .errors import BadRequest

# The object's metadata header that carries the name, signed into presigned uploads.
BENCHMARK_NAME_HEADER = "x-amz-meta-benchmark-name"
_BENCHMARK_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")  # used with fullmatch
RULE = "1-128 characters of A-Z a-z 0-9 . _ -"


def check_benchmark_name(name: object, field: str = "benchmark_name") -> str:
    if not isinstance(name, str) or not _BENCHMARK_NAME.fullmatch(name):
        raise BadRequest(f"{field} must be {RULE}", code="invalid_benchmark")
    return name
