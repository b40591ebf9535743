"""The ingest configuration, shared by the listener's and the worker's side (built from the
settings by `app/ingest_setup.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analysis_module.ingest.quota import OwnerQuota
from analysis_module.processing import ReadLimits


@dataclass(frozen=True)
class IngestConfig:
    bucket: str
    namespace_prefix: str
    max_attempts: int
    download_dir: Path | None = None
    job_timeout_s: float | None = None  # time budget of one analysis (None: unbounded)
    owner_quota: OwnerQuota | None = None  # re-checked on arrival (None: not checked)
    job_quiet_s: float = 20.0  # a job is analysed once its files were quiet for this long
    read_limits: ReadLimits | None = None  # for the check of a job's file on arrival
