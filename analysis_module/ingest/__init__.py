"""Event-driven ingestion: MinIO notifications and rescans -> queued analyses."""
