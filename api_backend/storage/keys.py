"""Object names users choose, checked before they become keys in their namespace.

A name is normalised to NFC, then must consist of letters, digits (any script), space and
`. _ - + = , @ ( ) !`, with `/` between non-empty segments. Refused with a clear 400
(`invalid_object_name`): `..`, `.` or empty segments (clients rewrite `a/./b` before
signing, so the store would refuse the signature), percent-escapes such as `%2F` (send the
character itself), backslashes, NUL and other control characters, a leading `/`, a segment
over 255 bytes (a file name on the worker's disk) and keys over 1024 bytes (S3's limit),
both counted in UTF-8.
"""

from __future__ import annotations

import re
import unicodedata

from ..core.errors import BadRequest

MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255  # the longest file name Linux file systems take
ALLOWED_PUNCTUATION = frozenset(" ._-+=,@()!")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


class InvalidObjectName(BadRequest):
    code = "invalid_object_name"


def _check_characters(name: str, what: str) -> None:
    if "\x00" in name:
        raise InvalidObjectName(f"{what} must not contain NUL")
    if "\\" in name:
        raise InvalidObjectName(f"{what} must not contain a backslash; use '/' between folders")
    if _PERCENT_ESCAPE.search(name):
        raise InvalidObjectName(
            f"{what} must not contain percent-escapes such as %2F; send the characters themselves"
        )
    if ".." in name:
        raise InvalidObjectName(f"{what} must not contain '..'")
    if name.startswith("/"):
        raise InvalidObjectName(f"{what} must not start with '/'")
    for char in name:
        if char != "/" and not char.isalnum() and char not in ALLOWED_PUNCTUATION:
            raise InvalidObjectName(
                f"{what} contains {char!r} (U+{ord(char):04X}); allowed are letters, digits, "
                "space, '/' between folders and . _ - + = , @ ( ) !"
            )


def _relative(name: str, namespace: str) -> str:
    # Clients may send back the full key they got from /storage/list or a presign answer.
    own = namespace + "/"
    return name[len(own) :] if name.startswith(own) else name


def object_key(object_name: str, namespace: str) -> str:
    """The full key of `object_name` in `namespace`, or InvalidObjectName."""
    name = _relative(unicodedata.normalize("NFC", object_name), namespace)
    if not name:
        raise InvalidObjectName("object_name must not be empty")
    _check_characters(name, "object_name")
    if name.endswith("/") or "//" in name:
        raise InvalidObjectName("object_name must not have empty folder names or end with '/'")
    key = f"{namespace}/{name}"
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidObjectName(
            f"object key would be longer than {MAX_KEY_BYTES} bytes (UTF-8, namespace included)"
        )
    for segment in name.split("/"):
        if segment == ".":
            raise InvalidObjectName("object_name must not have '.' as a folder or file name")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidObjectName(
                f"each folder and file name in object_name must be at most {MAX_SEGMENT_BYTES} "
                "bytes (UTF-8)"
            )
    return key


def list_prefix(prefix: str | None, namespace: str) -> str:
    """The S3 prefix for listing `prefix` (a folder or name start) inside `namespace`."""
    name = _relative(unicodedata.normalize("NFC", prefix or ""), namespace)
    if name:
        _check_characters(name, "prefix")
        if "//" in name:
            raise InvalidObjectName("prefix must not have empty folder names")
    key = f"{namespace}/{name}"
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidObjectName(f"prefix is longer than {MAX_KEY_BYTES} bytes")
    return key
