"""Fresh PostgreSQL databases on the real server the test command made sure is running."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class PgDatabase:
    host: str
    port: int
    user: str
    dbname: str
    password: str = ""

    @property
    def dsn(self) -> str:
        """libpq key/value DSN (psycopg, DuckDB's postgres extension)."""
        parts = f"host={self.host} port={self.port} user={self.user} dbname={self.dbname}"
        return parts + (f" password={self.password}" if self.password else "")

    @property
    def sqlalchemy_url(self) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"postgresql+psycopg://{auth}@{self.host}:{self.port}/{self.dbname}"

    def env(self) -> dict[str, str]:
        """The POSTGRES_* variables our services read."""
        return {
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_DB": self.dbname,
        }

    def connect(self, **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True, **kwargs)


def server() -> PgDatabase:
    return PgDatabase(
        host=os.environ.get("TEST_POSTGRES_HOST", "127.0.0.1"),
        port=int(os.environ.get("TEST_POSTGRES_PORT", "5432")),
        user=os.environ.get("TEST_POSTGRES_USER", "postgres"),
        dbname="postgres",
        password=os.environ.get("TEST_POSTGRES_PASSWORD", ""),
    )


def create_database(prefix: str = "bs_test") -> PgDatabase:
    admin = server()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PgDatabase(admin.host, admin.port, admin.user, name, admin.password)


def drop_database(db: PgDatabase) -> None:
    with server().connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db.dbname}" WITH (FORCE)')
