"""The rescan: list the bucket and queue every `.h5` object whose current content is not done.

Notifications get lost (MinIO without `queue_dir`, a full queue, the listener down, stores
that never notify), so the workers run this periodically and the batch CLI offers `--rescan`
(`app.ingest_setup.rescan`).
It goes through the same rules as an event: an object already analysed, failed for good, or
queued with a live job is left alone. Rows whose object is gone (checked with HEAD, since a
listing is not a snapshot) are marked removed.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from analysis_module.ingest import members
from analysis_module.ingest.config import IngestConfig
from analysis_module.ingest.events import is_likwid_key, is_profile_key
from analysis_module.ingest.notifications import observe_content
from analysis_module.ingest.ports import IngestStore, Objects
from analysis_module.ingest.rules import Disposition, Status
from analysis_module.pipeline_core.errors import ObjectNotFound
from analysis_module.pipeline_core.ingest_objects import Content

BATCH = 500


@dataclass
class RescanReport:
    listed: int = 0  # objects under the prefix
    profiles: int = 0  # `.h5` objects among them
    enqueued: int = 0  # queued for analysis now
    in_progress: int = 0  # already queued or running
    up_to_date: int = 0  # analysed, or failed for a reason in the file itself (or poison)
    removed: int = 0  # known objects that are gone from the bucket
    enqueued_keys: list[str] = field(default_factory=list, repr=False)


async def rescan_bucket(
    store: IngestStore,
    objects: Objects,
    config: IngestConfig,
    *,
    prefix: str = "",
    retry_failed: bool = False,
) -> RescanReport:
    report = RescanReport()
    listing: Iterator = iter(objects.list_objects(prefix))
    seen: set[str] = set()
    while batch := await asyncio.to_thread(lambda: list(itertools.islice(listing, BATCH))):
        report.listed += len(batch)
        profiles = [info for info in batch if is_profile_key(info.key)]
        report.profiles += len(profiles)
        wanted = profiles + [info for info in batch if is_likwid_key(info.key)]
        seen.update(info.key for info in wanted)
        await _rescan_batch(store, wanted, config, report, retry_failed=retry_failed)
    await _reconcile_removed(store, objects, config, prefix, seen, report)
    return report


async def _rescan_batch(
    store: IngestStore, profiles: list, config: IngestConfig, report, *, retry_failed: bool
) -> None:
    known = await store.snapshot(config.bucket, [info.key for info in profiles])
    candidates = []
    for info in profiles:
        row, job_alive = known.get(info.key, (None, False))
        if row is not None and row.etag == info.etag:
            if row.status is Status.OK and not members.outside_its_job(row):
                report.up_to_date += 1
                continue
            if row.status in (Status.QUEUED, Status.RUNNING) and job_alive:
                report.in_progress += 1
                continue
        candidates.append((info, job_alive))
    if not candidates:
        return
    candidates.sort(key=lambda item: item[0].key)  # one lock order for every transaction
    async with store.transaction() as tx:
        for info, job_alive in candidates:
            content = Content(info.etag, None, info.size)
            decision = await observe_content(
                tx, info.key, content, config, job_alive=job_alive, retry_failed=retry_failed
            )
            if decision.enqueue:
                report.enqueued += 1
                report.enqueued_keys.append(info.key)
                await tx.log_event(
                    disposition=Disposition.ACCEPTED,
                    reason=f"rescan: {decision.reason}",
                    payload={"rescan": {"key": info.key, "etag": info.etag, "size": info.size}},
                    event_name="rescan",
                    bucket=config.bucket,
                    key=info.key,
                    etag=info.etag,
                )
            elif decision.in_flight:
                report.in_progress += 1
            else:
                report.up_to_date += 1


async def _reconcile_removed(
    store: IngestStore,
    objects: Objects,
    config: IngestConfig,
    prefix: str,
    seen: set[str],
    report: RescanReport,
) -> None:
    async with store.transaction() as tx:
        missing = await tx.keys_not_in(config.bucket, prefix, seen)
    for key in missing:
        if not (is_profile_key(key) or is_likwid_key(key)):
            continue
        try:
            await asyncio.to_thread(objects.head, key)
            continue  # uploaded after the listing passed it
        except ObjectNotFound:
            pass
        async with store.transaction() as tx:
            row = await tx.lock_object(config.bucket, key)
            if row is None or row.status is Status.REMOVED:
                continue
            await tx.queue_removal(row, reason="object not found by the rescan")
            await tx.log_event(
                disposition=Disposition.REMOVED,
                reason="rescan: object no longer exists",
                payload={"rescan": {"key": key}},
                event_name="rescan",
                bucket=config.bucket,
                key=key,
            )
            report.removed += 1
