"""The worker's pool of analysis runners: reused while healthy, discarded after any failure."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from analysis_module.app.runner import FileInput, JobInput, Runner, build_runner
from analysis_module.ingest.ports import JobRequest
from analysis_module.pipeline_core.errors import TransientError
from analysis_module.pipeline_core.text import one_line
from analysis_module.settings import AnalysisSettings

log = logging.getLogger("analysis_module.worker")


class RunnerPool:
    """Analysis runners for the jobs running at once, built on first use and then reused.

    A runner is used by one job at a time and goes back to the pool only after a call that
    raised nothing and saw no unexpected error: one that failed in any way (its database
    connection may be dead, its transaction half done) is closed, and one whose job was
    cancelled (the time budget, a shutdown) is told to stop and is never seen again.
    `build_problem` says why the last attempt to build a runner failed (None once one works):
    the worker is not ready while it cannot build one.
    """

    def __init__(self, settings: AnalysisSettings, size: int):
        self.settings = settings
        self._idle: list[Runner] = []
        self._slots = asyncio.Semaphore(size)
        self.build_problem: str | None = None

    async def _build(self) -> Runner:
        try:
            runner = await asyncio.to_thread(build_runner, self.settings)
        except Exception as exc:
            self.build_problem = f"cannot build an analysis runner: {describe(exc)}"
            if isinstance(exc, TransientError):
                raise
            raise TransientError(self.build_problem) from exc
        self.build_problem = None
        return runner

    async def _call(self, method: str, *args, budget_s: float | None = None, **kwargs):
        """`budget_s` bounds the call (not the building of a runner): TimeoutError after it."""
        async with self._slots:
            runner = self._idle.pop() if self._idle else await self._build()
            call = asyncio.to_thread(getattr(runner, method), *args, **kwargs)
            try:
                result = await asyncio.wait_for(call, budget_s)
            except (asyncio.CancelledError, TimeoutError):
                runner.cancel()  # still busy in its thread: it stops and closes itself
                raise
            except BaseException:
                await asyncio.to_thread(_close_quietly, runner)
                raise
            if runner.saw_unexpected_error:
                await asyncio.to_thread(_close_quietly, runner)
            else:
                self._idle.append(runner)
            return result

    async def warm_up(self) -> None:
        """Build the first runner now, so the first job does not wait for it."""
        async with self._slots:
            if not self._idle:
                self._idle.append(await self._build())

    async def analyse(
        self,
        path: Path,
        *,
        source: str,
        owner: str | None,
        etag: str | None,
        label: str,
        budget_s: float | None = None,
    ):
        return await self._call(
            "analyse_file",
            path,
            source=source,
            owner=owner,
            etag=etag,
            label=label,
            budget_s=budget_s,
        )

    async def analyse_job(self, job: JobRequest, *, budget_s: float | None = None):
        return await self._call("analyse_job", job_input(job), budget_s=budget_s)

    async def record_job_failure(self, job: JobRequest, reason: str, kind: str):
        return await self._call("record_job_failure", job_input(job), reason, kind)

    async def mark_removed(self, source: str) -> None:
        await self._call("mark_removed", source)

    def close(self) -> None:
        while self._idle:
            _close_quietly(self._idle.pop())


def job_input(job: JobRequest) -> JobInput:
    """The engine's form of a job the ingest service assembled from the bucket."""
    files = tuple(FileInput(f.path, f.source, etag=f.etag, label=f.label) for f in job.files)
    likwid = tuple(FileInput(f.path, f.source, etag=f.etag, label=f.label) for f in job.likwid)
    return JobInput(
        job.source,
        files,
        owner=job.owner,
        benchmark=job.benchmark,
        benchmark_set_by=job.benchmark_set_by,
        likwid=likwid,
        work=job.work,
        work_note=job.work_note,
    )


def describe(exc: BaseException) -> str:
    """One line with the causes (procrastinate wraps driver errors in "Database error.")."""
    parts = []
    while exc is not None and len(parts) < 4:
        parts.append(one_line(exc))
        exc = exc.__cause__
    return ": ".join(parts)


def _close_quietly(runner: Runner) -> None:
    try:
        runner.close()
    except Exception:
        log.exception("closing an analysis runner failed")
