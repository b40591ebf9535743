"""The ingestion rules on their own: duplicates, supersession, retries, finishing."""

from __future__ import annotations

import pytest

from analysis_module.ingest.rules import (
    Disposition,
    ObjectState,
    Status,
    decide_content,
    decide_removal,
    decide_start,
    finish_applies,
    is_final_attempt,
)


def state(status: Status, etag: str = "e1", version_id: str | None = None) -> ObjectState:
    return ObjectState(etag=etag, version_id=version_id, status=status)


def test_first_sight_of_an_object_queues_it():
    assert decide_content(None, "e1", None).disposition is Disposition.ACCEPTED


@pytest.mark.parametrize("status", [Status.QUEUED, Status.RUNNING, Status.OK])
def test_same_content_again_is_a_duplicate(status):
    assert decide_content(state(status), "e1", None).disposition is Disposition.DUPLICATE


@pytest.mark.parametrize("status", list(Status))
def test_new_etag_supersedes_whatever_came_before(status):
    decision = decide_content(state(status), "e2", None)
    assert decision.disposition is Disposition.ACCEPTED


def test_version_id_decides_when_both_sides_have_one():
    same_bytes_new_version = decide_content(state(Status.OK, "e1", "v1"), "e1", "v2")
    assert same_bytes_new_version.disposition is Disposition.ACCEPTED
    assert decide_content(state(Status.OK, "e1", "v1"), "e1", "v1").disposition == "duplicate"


def test_failed_content_is_retried_only_when_the_file_was_not_to_blame():
    failed = state(Status.FAILED)
    assert decide_content(failed, "e1", None, failure_was_final=True).disposition == "duplicate"
    assert decide_content(failed, "e1", None, failure_was_final=False).disposition == "accepted"


def test_queued_without_a_live_job_is_queued_again():
    decision = decide_content(state(Status.QUEUED), "e1", None, job_alive=False)
    assert decision.disposition is Disposition.ACCEPTED


def test_removed_object_that_comes_back_is_queued():
    assert decide_content(state(Status.REMOVED), "e1", None).disposition == "accepted"


def test_removal_of_an_old_version_is_ignored():
    current = state(Status.OK, "e1", "v2")
    assert decide_removal(current, "v1").disposition is Disposition.IGNORED
    assert decide_removal(current, "v2").disposition is Disposition.REMOVED
    assert decide_removal(None, None).disposition is Disposition.REMOVED


def test_job_runs_only_for_content_in_flight():
    assert decide_start(state(Status.QUEUED), job_attempt=0, max_attempts=3).run
    assert decide_start(state(Status.RUNNING), job_attempt=1, max_attempts=3).run  # worker died
    assert not decide_start(state(Status.OK), job_attempt=0, max_attempts=3).run
    assert not decide_start(state(Status.REMOVED), job_attempt=0, max_attempts=3).run
    assert not decide_start(None, job_attempt=0, max_attempts=3).run
    exhausted = decide_start(state(Status.RUNNING), job_attempt=3, max_attempts=3)
    assert exhausted.give_up and not exhausted.run


def test_finish_writes_unless_removed_or_superseded_meanwhile():
    running = ObjectState("e1", None, Status.RUNNING, attempts=1)
    assert finish_applies(running, attempt=1, started_etag="e1", analysed_etag="e1")
    # S3 had newer content than the events said: we analysed it, the row takes it
    assert finish_applies(running, attempt=1, started_etag="e1", analysed_etag="e2")
    # an event for e3 arrived while we analysed e1: its own job writes
    newer = ObjectState("e3", None, Status.QUEUED, attempts=0)
    assert not finish_applies(newer, attempt=1, started_etag="e1", analysed_etag="e1")
    removed = ObjectState("e1", None, Status.REMOVED, attempts=1)
    assert not finish_applies(removed, attempt=1, started_etag="e1", analysed_etag="e1")


def test_finish_of_an_attempt_taken_for_dead_does_not_write():
    retried = ObjectState("e1", None, Status.RUNNING, attempts=2)
    assert not finish_applies(retried, attempt=1, started_etag="e1", analysed_etag="e1")


def test_final_attempt():
    assert not is_final_attempt(0, 3)
    assert is_final_attempt(2, 3)


def test_content_that_killed_or_outlasted_its_worker_twice_is_not_run_again():
    running = state(Status.RUNNING)
    assert decide_start(running, job_attempt=1, max_attempts=8, worker_kills=1).run
    killed = decide_start(running, job_attempt=2, max_attempts=8, worker_kills=2)
    assert (killed.run, killed.give_up, killed.poison) == (False, True, True)
    assert killed.reason == "the analysis killed its worker twice"
    slow = decide_start(state(Status.QUEUED), job_attempt=2, max_attempts=8, timeouts=2)
    assert (slow.give_up, slow.reason) == (True, "the analysis timed out twice")
    # a poison pill that was already failed is simply skipped
    assert not decide_start(
        state(Status.FAILED), job_attempt=0, max_attempts=8, worker_kills=2
    ).give_up


def test_a_jobs_file_analysed_on_its_own_before_is_queued_to_join_its_job():
    decision = decide_content(state(Status.OK), "e1", None, outside_its_job=True)
    assert decision.disposition is Disposition.ACCEPTED
    assert decide_content(state(Status.FAILED), "e1", None, outside_its_job=True).disposition is (
        Disposition.DUPLICATE  # a file that failed for its content stays failed
    )
