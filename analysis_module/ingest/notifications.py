"""Recording what arrives: a notification's records (the listener's side), removals, and
content seen under a key (by an event, a rescan or a worker's HEAD).

`record_notification` opens one transaction on the `IngestStore` per request; the others run
inside their caller's (`IngestTx`). All apply the pure rules of `rules.py` while holding the
object's row lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analysis_module.ingest import members, rules
from analysis_module.ingest.config import IngestConfig
from analysis_module.ingest.events import (
    EventKind,
    Notification,
    ObjectEvent,
    RejectedRecord,
    owner_of,
)
from analysis_module.ingest.ports import IngestStore, IngestTx
from analysis_module.ingest.rules import Disposition, EventDecision, Status
from analysis_module.pipeline_core.identity import object_source
from analysis_module.pipeline_core.ingest_objects import Content


@dataclass(frozen=True)
class RecordedEvent:
    """What became of one record of a request (the listener's answer lists them)."""

    disposition: Disposition
    key: str | None
    reason: str | None


async def record_notification(
    store: IngestStore, notification: Notification, config: IngestConfig
) -> list[RecordedEvent]:
    """Record every record of one request and queue their jobs, all in one transaction."""
    single = len(notification.records) == 1
    async with store.transaction() as tx:
        results = []
        for record in notification.records:
            payload = notification.body if single else _body_of_one_record(notification, record)
            results.append(await _record_one(tx, record, payload, config))
    return results


def _body_of_one_record(notification: Notification, record: ObjectEvent | RejectedRecord) -> Any:
    body = notification.body if isinstance(notification.body, dict) else {}
    inner = record.record
    return {"EventName": body.get("EventName"), "Key": body.get("Key"), "Records": [inner]}


async def _record_one(
    tx: IngestTx, record: ObjectEvent | RejectedRecord, payload: Any, config: IngestConfig
) -> RecordedEvent:
    if isinstance(record, RejectedRecord):
        await tx.log_event(
            disposition=Disposition.REJECTED,
            reason=record.reason,
            payload=payload,
            event_name=record.event_name,
            bucket=record.bucket,
            key=record.key,
        )
        return RecordedEvent(Disposition.REJECTED, record.key, record.reason)

    decision = rules.classify_event(record, bucket=config.bucket)
    if decision is None and record.kind is EventKind.REMOVED:
        decision = await _record_removal(tx, record, config)
    elif decision is None:
        content = Content(record.etag, record.version_id, record.size_bytes)
        decision = await observe_content(tx, record.key, content, config)
    await tx.log_event(
        disposition=decision.disposition,
        reason=decision.reason,
        payload=payload,
        event_name=record.event_name,
        bucket=record.bucket,
        key=record.key,
        etag=record.etag,
        version_id=record.version_id,
    )
    return RecordedEvent(decision.disposition, record.key, decision.reason)


async def observe_content(
    tx: IngestTx,
    key: str,
    content: Content,
    config: IngestConfig,
    *,
    job_alive: bool = True,
    retry_failed: bool = False,
) -> EventDecision:
    """Content seen under `key` (event, rescan, a worker's HEAD): queue it unless known.

    A failed object is queued again unless the file was to blame; `retry_failed` queues it
    in any case (the CLI's `--retry-failed`).
    """
    row, _ = await tx.lock_or_create_object(
        bucket=config.bucket,
        key=key,
        source=object_source(config.bucket, key),
        owner=owner_of(key, config.namespace_prefix),
    )
    state = None if row.status is Status.RECEIVED and row.etag is None else row.state
    final = not retry_failed and row.failure_kind in rules.FINAL_KINDS
    decision = rules.decide_content(
        state,
        content.etag,
        content.version_id,
        failure_was_final=final,
        job_alive=job_alive,
        outside_its_job=members.outside_its_job(row),
    )
    if decision.enqueue:
        await tx.queue_analysis(row, content, new_content=state is None)
    return decision


async def _record_removal(tx: IngestTx, event: ObjectEvent, config: IngestConfig) -> EventDecision:
    row, _ = await tx.lock_or_create_object(
        bucket=config.bucket,
        key=event.key,
        source=object_source(config.bucket, event.key),
        owner=owner_of(event.key, config.namespace_prefix),
    )
    decision = rules.decide_removal(row.state, event.version_id)
    if decision.disposition is Disposition.REMOVED:
        await tx.queue_removal(row)
    return decision
