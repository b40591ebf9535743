"""A legacy users file becomes accounts that log in with their old passwords."""

from __future__ import annotations

import uuid

from argon2 import PasswordHasher

from api_backend.import_users import main as import_main

LEGACY_PASSWORD = "pass-from-legacy"  # the legacy service allowed 8+ characters


def test_legacy_users_log_in_and_get_upgraded_hashes(client, pg_db, tmp_path, monkeypatch):
    name = f"olduser{uuid.uuid4().hex[:8]}"
    # The legacy service's passlib wrote Argon2id hashes with its own parameters.
    legacy_hash = PasswordHasher(time_cost=2, memory_cost=102400, parallelism=8).hash(
        LEGACY_PASSWORD
    )
    users = tmp_path / "users.txt"
    users.write_text(
        f"{name}:{legacy_hash}\n"
        "bad name!:$argon2id$v=19$m=1,t=1,p=1$x$y\n"
        f"other{name}:plaintext\n"
        f"{name}:{legacy_hash}\n",
        encoding="utf-8",
    )
    for key, value in pg_db.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("APP_ENV", "development")
    assert import_main([str(users)]) == 0

    login = client.post("/auth/password", json={"username": name, "password": LEGACY_PASSWORD})
    assert login.status_code == 200, login.text
    with pg_db.connect() as conn:
        (stored,) = conn.execute(
            "SELECT password_hash FROM api_users WHERE username = %s", (name,)
        ).fetchone()
        skipped = conn.execute(
            "SELECT count(*) FROM api_users WHERE username IN (%s, %s)",
            ("bad name!", "other" + name),
        ).fetchone()[0]
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")  # rehashed at login
    assert skipped == 0
