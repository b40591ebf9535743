"""Shared test helpers: real servers on loopback (PostgreSQL databases, S3, our ASGI apps)."""
