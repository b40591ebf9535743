"""Accounts from a legacy users file (USERS_FILE_PATH, lines `username:argon2-hash`).

    python -m api_backend.import_users users.txt

That file's hashes are Argon2 (passlib), which argon2-cffi verifies as it is: users keep their
passwords, and their hash is upgraded to the configured parameters at their next login.
Each imported user gets a fresh random public id, hence a new storage namespace (the legacy
`<username>/` prefixes are not carried over). Names that don't fit the username rules and
names that already exist are skipped and reported; nothing is overwritten.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.orm import Session

from .auth import repository as repo
from .auth.schemas import USERNAME_PATTERN, normalize_username
from .core.security import new_public_id
from .models import User

_USERNAME = re.compile(USERNAME_PATTERN)


def import_users(session: Session, lines: Iterable[str]) -> tuple[int, list[str]]:
    """(number imported, one reason per skipped line). Flushes; the caller commits."""
    imported, skipped = 0, []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        username, _, password_hash = line.partition(":")
        name = normalize_username(username)
        if not _USERNAME.fullmatch(name):
            skipped.append(f"line {number}: username does not fit {USERNAME_PATTERN}")
            continue
        if not password_hash.startswith("$argon2"):
            skipped.append(f"line {number}: not an Argon2 hash")
            continue
        if repo.user_by_username(session, name) is not None:
            skipped.append(f"line {number}: user {name!r} exists already")
            continue
        user = repo.add(
            session, User(public_id=new_public_id(), username=name, password_hash=password_hash)
        )
        repo.audit(session, "user_imported", user_id=user.id)
        imported += 1
    return imported, skipped


def main(argv: list[str] | None = None) -> int:
    from .core.config import load_settings
    from .db import make_engine, make_session_factory

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    engine = make_engine(load_settings())
    try:
        with make_session_factory(engine).begin() as session:
            imported, skipped = import_users(
                session, Path(args[0]).read_text(encoding="utf-8").splitlines()
            )
    finally:
        engine.dispose()
    for reason in skipped:
        print("skipped " + reason)
    print(f"imported {imported} user(s), skipped {len(skipped)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
