"""Password policy after NIST SP 800-63B-4: length, not composition.

- at least PASSWORD_MIN_LENGTH characters (code points after NFKC), at most
  PASSWORD_MAX_LENGTH (never below 64); longer input is refused, never truncated;
- any characters, spaces and emoji included; no "one digit, one symbol" rules;
- refused when it is a common or breached password (the bundled list), a run of one
  character or a keyboard/digit sequence, a short pattern repeated, or the username or
  the service's name.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from pathlib import Path

from ..core.config import Settings
from ..core.errors import BadRequest

COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
SERVICE_WORDS = ("benchsuite", "benchmark")
_SEQUENCES = (
    "0123456789012345678901234567890",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
)


class WeakPassword(BadRequest):
    code = "weak_password"


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _is_sequence(folded: str) -> bool:
    return any(folded in seq or folded in seq[::-1] for seq in _SEQUENCES)


def _is_repetition(folded: str) -> bool:
    """'abcabcabcabcabc', 'passwordpassword': a unit of up to half the length, repeated."""
    n = len(folded)
    for size in range(1, n // 2 + 1):
        if n % size == 0 and folded[:size] * (n // size) == folded:
            unit = folded[:size]
            return size <= 4 or unit in common_passwords()
    return False


def check_password(password: str, settings: Settings, username: str | None = None) -> None:
    """Raise `WeakPassword` (400) with a reason the user can act on."""
    length = len(unicodedata.normalize("NFKC", password))
    if length < settings.password_min_length:
        raise WeakPassword(
            f"password must have at least {settings.password_min_length} characters; "
            "a few unrelated words make a long password that is easy to remember"
        )
    if length > settings.password_max_length:
        raise WeakPassword(
            f"password must have at most {settings.password_max_length} characters "
            "(longer ones are refused, never cut)"
        )
    folded = _fold(password)
    if folded in common_passwords():
        raise WeakPassword("this password is on a list of common or breached passwords")
    if _is_sequence(folded) or _is_repetition(folded):
        raise WeakPassword(
            "password is a sequence or a repetition; choose something less guessable"
        )
    context = [*SERVICE_WORDS]
    if username:
        context.append(_fold(username))
    for word in context:
        # The name plus a few characters is guessed first by anyone who knows the name.
        if word and word in folded and len(folded.replace(word, "")) < 8:
            raise WeakPassword("password is mostly the username or the service's name")
