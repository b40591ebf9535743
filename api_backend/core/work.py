"""A figure of merit given on upload (`{"work": "GFLOP/s=1234"}`), stored as the object's
`x-amz-meta-work` and read by the analysis as its `--work UNIT=VALUE`.

The rule is the analysis' (`parse_work_spec` in analysis_module/pipeline_core/work.py), written
again here because the two packages never import each other; tests/test_work_rule.py holds
both to the same cases. On top of it the API asks what an HTTP header can carry: printable
ASCII, at most `MAX_CHARS` characters.
"""

from __future__ import annotations

import math
import re

from .errors import Unprocessable

# The object's metadata header that carries the figure, signed into presigned uploads.
WORK_HEADER = "x-amz-meta-work"
MAX_CHARS = 128
_UNIT = re.compile(r"[A-Za-z][A-Za-z0-9/_.%-]{0,31}")  # used with fullmatch


def _refuse(detail: str) -> Unprocessable:
    return Unprocessable(detail, code="invalid_work")


def check_work(text: object) -> str:
    """The figure as it is signed, `UNIT=VALUE` without spaces around either; a one-line 422
    (`invalid_work`) for anything the analysis would not read."""
    if not isinstance(text, str):
        raise _refuse("work must be a string UNIT=VALUE (for example GFLOP/s=1234 or GB/s=180)")
    if len(text) > MAX_CHARS or not text.isascii() or not text.isprintable():
        raise _refuse(f"work must be at most {MAX_CHARS} printable ASCII characters")
    unit, sep, number = text.partition("=")
    unit = unit.strip()
    if not sep or not _UNIT.fullmatch(unit):
        raise _refuse(
            f"work {text[:40]!r} is not UNIT=VALUE (for example GFLOP/s=1234 or GB/s=180)"
        )
    try:
        value = float(number)
    except ValueError:
        raise _refuse(f"work {unit}: {number.strip()[:40]!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise _refuse(f"work {unit}: the value must be a finite number >= 0")
    return f"{unit}={number.strip()}"
