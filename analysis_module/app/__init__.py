"""Use cases and their wiring: settings and connectors in, a finished piece of work out.

Entry points (`duckdb_analysis`, `minio_listener`, `worker`) call these; nothing here runs
migrations or reads flags.
"""
