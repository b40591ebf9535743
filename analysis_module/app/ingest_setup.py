"""The ingest services' configuration, and a one-off rescan of the bucket (the CLI's `--rescan`)."""

from __future__ import annotations

import asyncio

from analysis_module.app.runner import read_limits
from analysis_module.connectors.ingest_pool import open_ingest_store
from analysis_module.connectors.s3 import ObjectStore
from analysis_module.ingest.config import IngestConfig
from analysis_module.ingest.quota import OwnerQuota
from analysis_module.ingest.rescan import RescanReport, rescan_bucket
from analysis_module.settings import AnalysisSettings


def ingest_config(settings: AnalysisSettings) -> IngestConfig:
    """What the ingest services need of the settings."""
    return IngestConfig(
        bucket=settings.minio_bucket,
        namespace_prefix=settings.minio_bucket_prefix,
        max_attempts=settings.ingest_max_attempts,
        download_dir=settings.ingest_download_dir,
        job_timeout_s=settings.ingest_job_timeout_s or None,
        owner_quota=OwnerQuota(settings.user_max_objects, settings.user_max_bytes),
        job_quiet_s=settings.ingest_job_quiet_s,
        read_limits=read_limits(settings),
    )


def rescan(settings: AnalysisSettings, *, retry_failed: bool = False) -> RescanReport:
    """Rescan MINIO_BUCKET under MINIO_PREFIX once; prints nothing (the CLI reports).

    `retry_failed` also queues objects that failed because of the file itself (or as poison
    pills), for a new analysis after a fix in the analysis.
    """
    if not settings.use_postgres:
        raise ValueError("the rescan records objects in PostgreSQL: set POSTGRES_HOST")

    async def run() -> RescanReport:
        async with open_ingest_store(settings, max_size=2) as store:
            return await rescan_bucket(
                store,
                ObjectStore(settings.object_store_config()),
                ingest_config(settings),
                prefix=settings.minio_prefix,
                retry_failed=retry_failed,
            )

    return asyncio.run(run())
