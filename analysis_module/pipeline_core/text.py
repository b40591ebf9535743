"""Text fit for one line of a log, a status reason or an error message."""

from __future__ import annotations


def one_line(value: object, *, max_chars: int | None = None) -> str:
    """`value` as text on one line (whitespace runs become one space), cut at `max_chars`.

    An exception without a message is named by its type, so a reason is never empty.
    """
    text = " ".join(str(value).split())
    if max_chars is not None:
        text = text[:max_chars]
    if not text and isinstance(value, BaseException):
        return type(value).__name__
    return text
