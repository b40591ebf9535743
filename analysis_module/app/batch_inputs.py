"""What the batch CLI analyses: local files and folders, or the objects of a bucket, grouped
into jobs (the node-step files and merged file of one job id in one folder are one job)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from analysis_module.app.job_assembly import FileInput, JobInput
from analysis_module.ingest.events import is_profile_key, owner_of
from analysis_module.pipeline_core.identity import object_source
from analysis_module.pipeline_core.job_files import (
    job_source,
    likwid_job_id,
    likwid_job_keys,
    split_source,
)
from analysis_module.settings import AnalysisSettings


@dataclass(frozen=True)
class ProfileInput:
    display: str  # what the user sees
    source: str  # the job_summary key: absolute path, or s3://bucket/key
    owner: str | None = None
    etag: str | None = None
    path: Path | None = None  # local files
    key: str | None = None  # bucket objects
    settings: AnalysisSettings | None = None

    @contextlib.contextmanager
    def local_file(self) -> Iterator[Path]:
        if self.path is not None:
            yield self.path
            return
        from analysis_module.connectors.s3 import ObjectStore

        with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
            target = Path(tmp) / (PurePosixPath(self.key).name or "profile.h5")
            ObjectStore(self.settings.object_store_config()).download(self.key, target)
            yield target

    def file_input(self, path: Path) -> FileInput:
        """What the runner reads: reasons name a downloaded object by its source."""
        label = None if self.path is not None else self.source
        return FileInput(path, self.source, self.etag, label)


@dataclass(frozen=True)
class JobGroup:
    """The inputs of one job: `source` is the job key, `display` what the table shows."""

    source: str
    display: str
    members: tuple[ProfileInput, ...]
    likwid: tuple[ProfileInput, ...] = ()  # likwid-perfctr CSV output of the job

    @contextlib.contextmanager
    def job_input(
        self, benchmark: str | None = None, work: tuple[str, float] | None = None
    ) -> Iterator[JobInput]:
        """The job with every member as a local file (objects downloaded for its duration)."""
        with contextlib.ExitStack() as stack:

            def local(items: tuple[ProfileInput, ...]) -> tuple[FileInput, ...]:
                return tuple(
                    item.file_input(stack.enter_context(item.local_file())) for item in items
                )

            yield JobInput(
                self.source,
                local(self.members),
                owner=self.members[0].owner,
                benchmark=benchmark,
                benchmark_set_by="cli" if benchmark else None,
                likwid=local(self.likwid),
                work=work,
            )


def is_csv(source: str) -> bool:
    return source.lower().endswith(".csv")


def group_jobs(inputs: list[ProfileInput]) -> list[JobGroup]:
    """Profiles by job key, in the order their first file came; a job of several files is shown
    as `<folder>/job_<id>`, a job of one file by that file. A `.csv` joins the nearest job of
    this run that its name or folder names (`likwid_job_keys`); other CSV files are ignored."""
    by_job: dict[str, list[ProfileInput]] = {}
    for item in inputs:
        if not is_csv(item.source):
            by_job.setdefault(job_source(item.source), []).append(item)
    likwid: dict[str, list[ProfileInput]] = {}
    for item in inputs:
        key = _likwid_job(item.source, by_job) if is_csv(item.source) else None
        if key is not None:
            likwid.setdefault(key, []).append(item)
    groups = []
    for key, members in by_job.items():
        display = members[0].display
        if len(members) > 1:
            folder = split_source(display)[0]
            name = split_source(key)[1]
            display = f"{folder}/{name}" if folder else name
        groups.append(JobGroup(key, display, tuple(members), tuple(likwid.get(key, ()))))
    return groups


def _likwid_job(source: str, jobs: dict) -> str | None:
    job_id = likwid_job_id(source)
    if job_id is None:
        return None
    return next((key for key in likwid_job_keys(source, job_id) if key in jobs), None)


def local_inputs(paths: list[Path]) -> list[ProfileInput]:
    """Files as given, folders searched recursively for *.h5 (and *.csv, for LIKWID output),
    each file once, sorted.

    Names are shown relative to the folder given (several sources: to their common folder), so
    the table shows `nodestep/5_0_vm.h5`, not the same absolute prefix on every line.
    """
    found: dict[Path, None] = {}
    bases: list[Path] = []
    for path in paths:
        if path.is_dir():
            bases.append(path.resolve())
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in (".h5", ".csv"):
                    found[child.resolve()] = None
        elif path.exists():
            bases.append(path.resolve().parent)
            found[path.resolve()] = None
        else:
            raise FileNotFoundError(f"--source: no such file or folder: {path}")
    base = Path(os.path.commonpath(bases)) if bases else Path.cwd()
    return [
        ProfileInput(display=p.relative_to(base).as_posix(), source=str(p), path=p) for p in found
    ]


def s3_inputs(settings: AnalysisSettings) -> list[ProfileInput]:
    from analysis_module.connectors.s3 import ObjectStore

    store = ObjectStore(settings.object_store_config())
    bucket = settings.minio_bucket
    return [
        ProfileInput(
            display=obj.key.removeprefix(settings.minio_prefix) or obj.key,
            source=object_source(bucket, obj.key),
            owner=owner_of(obj.key, settings.minio_bucket_prefix),
            etag=obj.etag,
            key=obj.key,
            settings=settings,
        )
        for obj in store.list_objects(settings.minio_prefix)
        if is_profile_key(obj.key) or is_csv(obj.key)
    ]
