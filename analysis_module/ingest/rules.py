"""The ingestion rules as pure functions: what an event, a rescan hit or a job start means.

Everything here takes the current `ingest_objects` row (or None) and facts about the object and
returns a decision; the service applies it inside one transaction that holds the row lock, so
concurrent deliveries of one event are decided one after the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from analysis_module.ingest.events import EventKind, ObjectEvent, is_likwid_key, is_profile_key
from analysis_module.pipeline_core.ingest_objects import FailureKind, ObjectState, Status

__all__ = ["FailureKind", "ObjectState", "Status"]  # the states, with the rules that move them


class Disposition(StrEnum):
    """`ingest_events.disposition`: what became of one authentic record."""

    ACCEPTED = "accepted"  # a job was queued
    DUPLICATE = "duplicate"  # this content is already queued, running or analysed
    IGNORED = "ignored"  # authentic but not for us (other bucket, not .h5, metadata only)
    REJECTED = "rejected"  # malformed
    REMOVED = "removed"  # the object's results are marked removed


FINAL_KINDS = frozenset({FailureKind.FILE, FailureKind.POISON})
POISON_LIMIT = 2  # runs of one content that killed or outlasted their worker
KILLED_TWICE = "the analysis killed its worker twice"
# a job's analysis (of the files of one Slurm job) whose worker died twice; its files are failed
# with this reason, and `job_service` tells them from files whose own check was a poison pill
JOB_KILLED_TWICE = "gave up: the job's analysis stopped its worker twice (killed, or out of memory)"
TIMED_OUT_TWICE = "the analysis timed out twice"

IN_FLIGHT = frozenset({Status.RECEIVED, Status.QUEUED, Status.RUNNING})


@dataclass(frozen=True)
class EventDecision:
    disposition: Disposition
    reason: str | None = None
    in_flight: bool = False  # a duplicate because a job for this content is queued or running

    @property
    def enqueue(self) -> bool:
        return self.disposition is Disposition.ACCEPTED


def same_content(state: ObjectState, etag: str | None, version_id: str | None) -> bool:
    """Same upload: the version id when both sides have one, else the ETag."""
    if state.version_id and version_id:
        return state.version_id == version_id
    return state.etag is not None and state.etag == etag


def classify_event(event: ObjectEvent, *, bucket: str) -> EventDecision | None:
    """Events we acknowledge without touching any object; None when the event is for us."""
    if event.bucket != bucket:
        return EventDecision(
            Disposition.IGNORED, f"bucket {event.bucket!r} is not the watched bucket"
        )
    if event.kind is EventKind.OTHER:
        return EventDecision(Disposition.IGNORED, f"{event.event_name} does not change content")
    if is_profile_key(event.key) or is_likwid_key(event.key):
        return None
    if event.key.lower().endswith(".csv"):
        return EventDecision(Disposition.IGNORED, "a .csv whose folder or name gives no job")
    return EventDecision(Disposition.IGNORED, "not an .h5 object")


def decide_content(
    state: ObjectState | None,
    etag: str | None,
    version_id: str | None,
    *,
    failure_was_final: bool = True,
    job_alive: bool = True,
    outside_its_job: bool = False,
) -> EventDecision:
    """New content seen (event or rescan): queue an analysis, or note it as a duplicate.

    `failure_was_final`: a failed row's reason is about the file itself (`FINAL_KINDS`), so
    the same content would fail again; a failure caused by the configuration, a defect or an
    outage is retried. `job_alive`: a job for the object is waiting or running (the rescan
    checks; the listener assumes so). `outside_its_job`: a file of a Slurm job that was
    analysed on its own (before jobs were assembled from files), queued again to join its job.
    """
    if state is None:
        return EventDecision(Disposition.ACCEPTED, "new object")
    if not same_content(state, etag, version_id):
        return EventDecision(Disposition.ACCEPTED, "new content supersedes the previous upload")
    if state.status is Status.REMOVED:
        return EventDecision(Disposition.ACCEPTED, "object is back after a removal")
    if state.status is Status.OK and outside_its_job:
        return EventDecision(Disposition.ACCEPTED, "analysed on its own before: joins its job")
    if state.status is Status.OK:
        return EventDecision(Disposition.DUPLICATE, "already analysed")
    if state.status is Status.FAILED:
        if failure_was_final:
            return EventDecision(Disposition.DUPLICATE, "already failed for this content")
        return EventDecision(
            Disposition.ACCEPTED, "retrying a failure the file was not to blame for"
        )
    if not job_alive:
        return EventDecision(Disposition.ACCEPTED, f"{state.status} but no job in the queue")
    return EventDecision(Disposition.DUPLICATE, f"already {state.status}", in_flight=True)


def decide_removal(state: ObjectState | None, version_id: str | None) -> EventDecision:
    """A removal notification: mark the results removed unless it concerns an old version."""
    if state is not None and state.version_id and version_id and state.version_id != version_id:
        return EventDecision(
            Disposition.IGNORED, "removal of a version that is not the current one"
        )
    return EventDecision(Disposition.REMOVED, None)


@dataclass(frozen=True)
class StartDecision:
    run: bool
    reason: str | None = None
    give_up: bool = False
    poison: bool = False  # given up because the content killed or outlasted workers


def decide_start(
    state: ObjectState | None,
    *,
    job_attempt: int,
    max_attempts: int,
    worker_kills: int = 0,
    timeouts: int = 0,
) -> StartDecision:
    """A job is about to analyse the object: is there still something to do?

    `job_attempt` counts the job's earlier runs, including ones whose worker died.
    `worker_kills` and `timeouts` count the current content's runs that a dead worker or the
    time budget cut short: at `POISON_LIMIT` the content is a poison pill and is not run again.
    """
    if state is None:
        return StartDecision(False, "object is not known")
    if state.status not in IN_FLIGHT:
        return StartDecision(False, f"nothing to do: object is {state.status}")
    if worker_kills >= POISON_LIMIT:
        return StartDecision(False, KILLED_TWICE, give_up=True, poison=True)
    if timeouts >= POISON_LIMIT:
        return StartDecision(False, TIMED_OUT_TWICE, give_up=True, poison=True)
    if job_attempt >= max_attempts:
        return StartDecision(False, f"gave up after {job_attempt} attempts", give_up=True)
    return StartDecision(True)


def job_poisoned(worker_kills: int) -> str | None:
    """Why a job's analysis that lost its worker `worker_kills` times is not run again, or
    None: at `POISON_LIMIT`, as for an object."""
    return JOB_KILLED_TWICE if worker_kills >= POISON_LIMIT else None


def finish_applies(
    state: ObjectState | None, *, attempt: int, started_etag: str | None, analysed_etag: str
) -> bool:
    """May a finished analysis (attempt number `attempt`) set the row's status?

    Not when the object was removed meanwhile, nor when a later attempt started (this one was
    taken for dead), nor when an event for other content arrived while we ran (its own job,
    queued behind ours by the per-object lock, will write). When nothing changed we may have
    analysed newer content than the row knew (S3 ahead of the events): the row takes our ETag.
    """
    if state is None or state.status is Status.REMOVED or state.attempts != attempt:
        return False
    return state.etag == started_etag or state.etag == analysed_etag


def is_final_attempt(job_attempt: int, max_attempts: int) -> bool:
    """The run that starts after `job_attempt` earlier ones is the last one allowed."""
    return job_attempt + 1 >= max_attempts
