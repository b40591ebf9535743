"""The worker's Prometheus metrics: job outcomes, analysis and download times, queue depth."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from procrastinate import JobContext
from procrastinate.exceptions import JobAborted
from procrastinate.job_context import AbortReason
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from analysis_module.connectors import queue
from analysis_module.connectors.ingest_store import IngestStore
from analysis_module.connectors.s3 import ObjectInfo, ObjectStore
from analysis_module.ingest.rules import Status
from analysis_module.ingest.service import TaskOutcome, TaskResult

QUEUE_STATUSES = ("todo", "doing")
# Outcomes of a job: the service's, and the two of failures (decided by the retry strategy).
RETRIED = "retried"
FAILED = "failed"
OBJECT_TASKS = (queue.ANALYSE_TASK, queue.REMOVE_TASK, queue.JOB_TASK)


class WorkerMetrics:
    """The worker's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Counter(
            "ingest_worker_jobs",
            "Finished jobs by task and outcome",
            ["task", "outcome"],
            registry=self.registry,
        )
        self.analysis_seconds = Histogram(
            "ingest_worker_analysis_seconds",
            "Whole analyse_object jobs that ended ok or failed, download included",
            registry=self.registry,
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
        )
        self.download_seconds = Histogram(
            "ingest_worker_download_seconds",
            "Time to download an object for its analysis",
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        )
        self.download_bytes = Histogram(
            "ingest_worker_download_bytes",
            "Size of the downloaded objects",
            registry=self.registry,
            buckets=tuple(float(4**n * 1024) for n in range(2, 13)),  # 16 KiB to 4 GiB
        )
        self.queue_jobs = Gauge(
            "ingest_queue_jobs",
            "Jobs of the ingest queue waiting (todo) or running (doing)",
            ["status"],
            registry=self.registry,
        )
        self.objects = Gauge(
            "ingest_objects",
            "Rows of ingest_objects by status",
            ["status"],
            registry=self.registry,
        )
        for task in OBJECT_TASKS:
            for outcome in (*TaskOutcome, RETRIED, FAILED):
                self.jobs.labels(task, outcome)
        for status in QUEUE_STATUSES:
            self.queue_jobs.labels(status)
        for status in Status:
            self.objects.labels(status.value)

    async def observe_job(self, call_next, context: JobContext, worker) -> object:
        """procrastinate worker middleware: count every job's outcome and time analyses."""
        started = time.perf_counter()
        try:
            result = await call_next()
        except BaseException as exc:
            self._finished(context, RETRIED if _will_retry(context, exc) else FAILED, started)
            raise
        outcome = result.outcome if isinstance(result, TaskResult) else TaskOutcome.OK
        self._finished(context, outcome.value, started)
        return result

    def _finished(self, context: JobContext, outcome: str, started: float) -> None:
        task = context.job.task_name
        self.jobs.labels(task, outcome).inc()
        if task == queue.ANALYSE_TASK and outcome in (TaskOutcome.OK, FAILED):
            self.analysis_seconds.observe(time.perf_counter() - started)

    async def refresh(self, store: IngestStore, queue_name: str) -> None:
        """Queue depth and object counts, in one query."""
        counts = await store.status_counts(queue_name)
        for status in QUEUE_STATUSES:
            self.queue_jobs.labels(status).set(counts.get(("queue", status), 0))
        statuses = {s.value for s in Status} | {s for k, s in counts if k == "objects"}
        for status in statuses:
            self.objects.labels(status).set(counts.get(("objects", status), 0))


def _will_retry(context: JobContext, exc: BaseException) -> bool:
    """Does procrastinate queue the job again after this exception (its task's strategy)?"""
    task = context.app.tasks.get(context.job.task_name)
    if task is None:
        return False
    if isinstance(exc, JobAborted) and context.abort_reason() is not AbortReason.SHUTDOWN:
        return False  # a user's abort request
    return task.get_retry_exception(exception=exc, job=context.job) is not None


class MeasuredObjectStore:
    """The bucket (an `ObjectStore`), with each download timed and sized for the metrics."""

    def __init__(self, objects: ObjectStore, metrics: WorkerMetrics):
        self.objects = objects
        self.bucket = objects.bucket
        self.metrics = metrics

    def list_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.objects.list_objects(prefix)

    def head(self, key: str) -> ObjectInfo:
        return self.objects.head(key)

    def download(self, key: str, dest_path: Path, *, etag: str | None = None) -> str:
        started = time.perf_counter()
        written = self.objects.download(key, dest_path, etag=etag)
        self.metrics.download_seconds.observe(time.perf_counter() - started)
        self.metrics.download_bytes.observe(Path(dest_path).stat().st_size)
        return written
