"""The files of one job (docs/jobs.md): open each, confirm it against its name, keep the reason
of every file that cannot be used, and compose the rest into one `JobProfile`.

A file that cannot be opened or confirmed is left out with its reason; the job is computed from
the others. Only when no file is usable does the job fail.
"""

from __future__ import annotations

import errno
import resource
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa

from analysis_module.app.job_work import LikwidRead, job_work_columns, read_likwid
from analysis_module.pipeline_core.errors import ConfigurationError
from analysis_module.pipeline_core.job_files import parse_file_name, split_source
from analysis_module.pipeline_core.records import files_table
from analysis_module.processing import (
    JobMember,
    JobProfile,
    ProfileError,
    ReadLimits,
    SlurmProfile,
    confirm_node_step,
    open_profile,
)

FILE_NOTE_CHARS = 1000  # job_summary.error of a job that left files out


@dataclass(frozen=True)
class FileInput:
    path: Path  # local file to read
    source: str  # the file's own source (local absolute path or s3://bucket/key)
    etag: str | None = None
    label: str | None = None  # how reasons name the file instead of `path` (a worker's temp copy)


@dataclass(frozen=True)
class JobInput:
    source: str  # the job key: job_source(f.source) of every member (or the single file's source)
    files: tuple[FileInput, ...]
    owner: str | None = None
    benchmark: str | None = None
    benchmark_set_by: str | None = None  # "upload" | "cli" (None when no benchmark)
    likwid: tuple[FileInput, ...] = ()  # likwid-perfctr CSV output beside the profiles
    work: tuple[str, float] | None = None  # a figure of merit given with the job (unit, value)
    work_note: str | None = None  # about the given figure (an upload's that was left out)


@dataclass(frozen=True)
class FileOutcome:
    source: str
    name: str
    role: str  # node_step | merged | single | likwid
    status: str  # ok | failed
    error: str | None = None
    failure_kind: str | None = None  # file | config | internal when failed


def one_line(exc: BaseException, hide: dict[str, str]) -> str:
    """The error in one line, each local path replaced by how reasons name that file."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    for path, label in hide.items():
        text = text.replace(path, label)
    return text[:1000]


class JobFiles:
    """The members of one job while it is analysed: open profiles and failed files."""

    def __init__(self, job: JobInput, limits: ReadLimits):
        unique: dict[str, FileInput] = {}
        for item in job.files:  # a file given twice is one file of the job
            unique.setdefault(item.source, item)
        self.job = job if len(unique) == len(job.files) else replace(job, files=(*unique.values(),))
        self.limits = limits
        self.names = [split_source(f.source)[1] for f in self.job.files]
        self.parsed = [parse_file_name(name) for name in self.names]
        self.hide = {str(f.path): f.label for f in self.job.files if f.label}
        self.opened: dict[int, SlurmProfile] = {}
        self.errors: dict[int, tuple[str, str]] = {}  # file index -> (full reason, kind)
        self._members: list[int] = []  # JobProfile member index -> file index
        self._likwid: LikwidRead | None = None

    @property
    def job_id(self) -> str | None:
        named = next((p.job_id for p in self.parsed if p.job_id is not None), None)
        if named is None and self.opened:
            return next(iter(self.opened.values())).job_id
        return named

    def open_all(self) -> None:
        """Every file opened and checked against its name; ConfigurationError (all closed
        again) when the process runs out of file descriptors, which is no file's fault."""
        for index, item in enumerate(self.job.files):
            try:
                profile = open_profile(item.path, self.limits)
            except (ProfileError, OSError) as exc:
                if _out_of_descriptors(exc):
                    self.close()
                    self.opened.clear()
                    raise ConfigurationError(self._descriptor_limit_reason()) from exc
                self.errors[index] = (one_line(exc, self.hide), "file")
                continue
            parsed = self.parsed[index]
            try:
                if parsed.role == "node_step":
                    confirm_node_step(profile, self._shown(index), parsed.node)
                elif parsed.role == "merged" and profile.layout != "merged":
                    raise ProfileError(
                        f"{self._shown(index)}: named as a merged job file but holds one node "
                        "group (a node-step file)"
                    )
            except ProfileError as exc:
                profile.close()
                self.errors[index] = (one_line(exc, self.hide), "file")
                continue
            self.opened[index] = profile

    def _descriptor_limit_reason(self) -> str:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        return (
            f"too many open files: the job has {len(self.job.files)} files and this process "
            f"may hold {soft} open at once; raise the open-files limit (ulimit -n, "
            "LimitNOFILE= of a systemd unit, the container's nofile) and analyse the job again"
        )

    def fail_all(self, reason: str, kind: str) -> None:
        for index in range(len(self.job.files)):
            self.errors.setdefault(index, (reason, kind))

    def profile(self) -> JobProfile:
        """The usable files as one profile; a merged file first, then by name (any order in,
        the same figures out)."""
        self._members = sorted(
            self.opened, key=lambda i: (self.parsed[i].role != "merged", self.names[i])
        )
        members = [
            JobMember(self.opened[i], self.parsed[i].step, self.parsed[i].node)
            for i in self._members
        ]
        lost = [self.parsed[i].node for i in self.errors if self.parsed[i].node]
        return JobProfile(self.job_id, members, expected_nodes=lost)

    def drop_member(self, member_index: int, reason: str) -> bool:
        """A member failed while it was read: leave it out; True when others remain."""
        index = self._members[member_index]
        self.opened.pop(index).close()
        self.errors[index] = (reason, "file")
        return bool(self.opened)

    def close(self) -> None:
        for profile in self.opened.values():
            profile.close()

    def reason(self, index: int) -> str:
        """The file's reason without the path it starts with (the name says which file)."""
        text = self.errors[index][0]
        return text.removeprefix(f"{self._shown(index)}: ")

    def failure(self) -> str:
        """Why the job failed: every file's reason (a one-file job: that file's own reason)."""
        if len(self.job.files) == 1:
            return self.errors[0][0]
        parts = "; ".join(f"{self.names[i]}: {self.reason(i)}" for i in sorted(self.errors))
        return _cap(f"no file of the job could be read ({len(self.errors)} files): {parts}")

    def note(self) -> str | None:
        """`1 of 4 files left out: 5_1_vm.h5: <reason>` for a job computed without some files."""
        if not self.errors:
            return None
        parts = "; ".join(f"{self.names[i]}: {self.reason(i)}" for i in sorted(self.errors))
        return _cap(f"{len(self.errors)} of {len(self.job.files)} files left out: {parts}")

    def counts(self) -> dict:
        """Profile files only: LIKWID files are in job_files and in the work columns."""
        return {"n_files": len(self.job.files), "n_files_failed": len(self.errors)}

    def likwid(self) -> LikwidRead:
        """The job's LIKWID files, each read once."""
        if self._likwid is None:
            self._likwid = read_likwid(self.job.source, self.job.likwid)
        return self._likwid

    def work_columns(self, metrics: dict) -> dict:
        """The summary's work columns from the LIKWID files and the given figure of merit."""
        return job_work_columns(self.likwid(), self.job.work, metrics, note=self.job.work_note)

    def outcomes(self) -> tuple[FileOutcome, ...]:
        return self._profile_outcomes() + self._likwid_outcomes()

    def _likwid_outcomes(self) -> tuple[FileOutcome, ...]:
        read = self.likwid()
        return tuple(
            FileOutcome(
                item.source,
                name,
                "likwid",
                "ok" if error is None else "failed",
                error,
                None if error is None else "file",
            )
            for item, name, error in zip(self.job.likwid, read.names, read.errors, strict=True)
        )

    def _profile_outcomes(self) -> tuple[FileOutcome, ...]:
        return tuple(
            FileOutcome(item.source, self.names[i], self.parsed[i].role, "ok")
            if i not in self.errors
            else FileOutcome(
                item.source,
                self.names[i],
                self.parsed[i].role,
                "failed",
                self.reason(i),
                self.errors[i][1],
            )
            for i, item in enumerate(self.job.files)
        )

    def table(self) -> pa.Table:
        """The job's JOB_FILES rows."""
        files = [
            {
                "file_source": outcome.source,
                "file_name": outcome.name,
                "role": outcome.role,
                "etag": item.etag,
                "step": parsed.step,
                "node": parsed.node,
                "status": outcome.status,
                "error": outcome.error,
            }
            for item, parsed, outcome in zip(
                self.job.files, self.parsed, self._profile_outcomes(), strict=True
            )
        ]
        files.extend(
            {
                "file_source": outcome.source,
                "file_name": outcome.name,
                "role": "likwid",
                "etag": item.etag,
                "step": None,
                "node": None,
                "status": outcome.status,
                "error": outcome.error,
            }
            for item, outcome in zip(self.job.likwid, self._likwid_outcomes(), strict=True)
        )
        return files_table(self.job.source, files)

    def _shown(self, index: int) -> str:
        item = self.job.files[index]
        return item.label or str(item.path)


def _cap(text: str) -> str:
    return text if len(text) <= FILE_NOTE_CHARS else text[: FILE_NOTE_CHARS - 3] + "..."


def _out_of_descriptors(exc: BaseException) -> bool:
    """EMFILE or ENFILE, raised as it is or inside HDF5's message (`errno = 24`)."""
    for _ in range(8):  # a chain of causes, bounded
        if exc is None:
            return False
        if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
            return True
        if "Too many open files" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
