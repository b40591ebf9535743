"""An uploaded object as the ingest tables record it: its status, why it failed, its content.

Plain data shared by the ingest rules and services (`analysis_module.ingest`) and the store
that persists it (`connectors.ingest_store`); neither package imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """`ingest_objects.status`."""

    RECEIVED = "received"  # seen, not yet queued (only inside the recording transaction)
    QUEUED = "queued"  # a job will analyse the current content (also while waiting to retry)
    RUNNING = "running"  # a worker is analysing it
    OK = "ok"
    FAILED = "failed"  # the file is bad, or transient failures used up every attempt
    REMOVED = "removed"


class FailureKind(StrEnum):
    """`ingest_objects.failure_kind`: who is to blame for a failed object."""

    FILE = "file"  # corrupt, wrong layout, hostile: final until the object changes
    POISON = "poison"  # killed or outlasted its worker twice: final until the object changes
    CONFIG = "config"  # the deployment's settings or permissions: retried by the next rescan
    INTERNAL = "internal"  # a defect in the analysis: retried by the next rescan
    TRANSIENT = "transient"  # outages outlasted every attempt: retried by the next rescan


@dataclass(frozen=True)
class ObjectState:
    """The columns of an `ingest_objects` row that the rules look at."""

    etag: str | None
    version_id: str | None
    status: Status
    attempts: int = 0


@dataclass(frozen=True)
class ObjectRow:
    bucket: str
    key: str
    source: str
    owner: str | None
    etag: str | None
    version_id: str | None
    size_bytes: int | None
    status: Status
    attempts: int
    error: str | None
    failure_kind: FailureKind | None = None
    worker_kills: int = 0  # runs of the current content whose worker died
    timeouts: int = 0  # runs of the current content cut off by the time budget
    job_source: str | None = None  # the Slurm job it is a file of (docs/jobs.md), once known
    benchmark: str | None = None  # what its upload said (`x-amz-meta-benchmark-name`)
    work: str | None = None  # its upload's figure of merit (`x-amz-meta-work`), as given

    @property
    def state(self) -> ObjectState:
        return ObjectState(self.etag, self.version_id, self.status, self.attempts)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ObjectRow:
        kind = record.get("failure_kind")
        return cls(
            **{
                **record,
                "status": Status(record["status"]),
                "failure_kind": FailureKind(kind) if kind else None,
            }
        )


@dataclass(frozen=True)
class Content:
    """What we know of an object's current content."""

    etag: str | None
    version_id: str | None = None
    size_bytes: int | None = None
