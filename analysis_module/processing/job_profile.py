"""One Slurm job read from several profile files: node-step files and merged files of one job.

`sh5util -j` merges a job's node-step files into one file; `JobProfile` gives the same view
without writing it. Every (step, node) found in any member is one `NodeStep` of the job, in the
order `SlurmProfile` uses. A (step, node) that two files hold (a merged file beside the
node-step files it was made from) is read from both: the first member's rows as they are, plus
the other's rows at EpochTimes the first lacks (Tasks: per rank). Rows within one file are never
deduplicated (Slurm's Energy tables start with two rows at ElapsedTime 0). A read still touches
one (step, node) at a time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from analysis_module.processing.errors import ProfileError
from analysis_module.processing.hdf5_profile import NodeStep, SlurmProfile, node_step_order


class MemberReadError(ProfileError):
    """Reading one member file of a job failed; `index` says which member (its reason is
    the message), so the job can be analysed again without it."""

    def __init__(self, index: int, cause: ProfileError):
        super().__init__(str(cause))
        self.index = index


@dataclass(frozen=True)
class JobMember:
    """An open profile and what its file name says: `step` (merged-file naming) and `node`
    for a node-step file, both None for a merged file or a file read as it is."""

    profile: SlurmProfile
    step: str | None = None
    node: str | None = None


def confirm_node_step(profile: SlurmProfile, name: str, node: str) -> None:
    """A node-step file must hold the node its name says: its one group and `Node Name`."""
    if profile.layout != "node_step":
        raise ProfileError(f"{name}: named as a node-step file but holds a merged job (/Steps)")
    held = profile.node_steps[0].node
    attribute = profile.node_name_attribute(profile.node_steps[0])
    if held != node or attribute not in (None, node):
        shown = held if attribute in (None, held) else f"{held} (Node Name {attribute})"
        raise ProfileError(f"{name}: the name says node {node}, the file holds node {shown}")


class JobProfile:
    """`ProfileLike` over the members of one job; `expected_nodes` adds nodes named by files
    that could not be read, so coverage shows what is missing."""

    def __init__(
        self,
        job_id: str | None,
        members: Sequence[JobMember],
        expected_nodes: Iterable[str] = (),
    ) -> None:
        self.job_id = job_id
        self.members = list(members)
        parts: dict[tuple[str, str], list[tuple[int, NodeStep]]] = {}
        for index, member in enumerate(self.members):
            for ns in member.profile.node_steps:
                step = member.step if member.step is not None else ns.step
                own = dataclasses.replace(ns, step=step)
                parts.setdefault((step, ns.node), []).append((index, own))
        self._parts = parts
        self.node_steps: list[NodeStep] = sorted(
            (_combined(found) for found in parts.values()), key=node_step_order
        )
        named = [ns.node for ns in self.node_steps] + list(expected_nodes)
        self.expected_nodes: tuple[str, ...] = tuple(dict.fromkeys(named))

    def close(self) -> None:
        for member in self.members:
            member.profile.close()

    def __enter__(self) -> JobProfile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_energy(self, ns: NodeStep) -> pa.Table | None:
        return self._read(ns, "read_energy", ("epoch_s",))

    def read_tasks(self, ns: NodeStep) -> pa.Table | None:
        return self._read(ns, "read_tasks", ("rank", "epoch_s"))

    def read_network(self, ns: NodeStep) -> pa.Table | None:
        return self._read(ns, "read_network", ("epoch_s",))

    def read_filesystem(self, ns: NodeStep) -> pa.Table | None:
        return self._read(ns, "read_filesystem", ("epoch_s",))

    def _read(self, ns: NodeStep, method: str, keys: tuple[str, ...]) -> pa.Table | None:
        merged = None
        for index, own in self._parts.get((ns.step, ns.node), ()):
            try:
                table = getattr(self.members[index].profile, method)(own)
            except ProfileError as exc:
                raise MemberReadError(index, exc) from exc
            if table is None:
                continue
            merged = table if merged is None else _union(merged, table, keys)
        return merged


def _combined(found: list[tuple[int, NodeStep]]) -> NodeStep:
    """One handle for a (step, node) held by one or more files."""
    first = found[0][1]
    if len(found) == 1:
        return first
    others = [ns for _, ns in found]
    series = tuple(
        s
        for s in ("Energy", "Tasks", "Network", "Filesystem")
        if any(s in ns.series for ns in others)
    )
    ranks = tuple(sorted({rank for ns in others for rank in ns.task_ranks}))
    return dataclasses.replace(
        first,
        node_index=next((ns.node_index for ns in others if ns.node_index is not None), None),
        n_tasks=next((ns.n_tasks for ns in others if ns.n_tasks is not None), None),
        series=series,
        task_ranks=ranks,
    )


def _union(first: pa.Table, other: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """`first` as it is, plus the rows of `other` at keys `first` lacks, ordered by the keys."""
    present = first.select(list(keys)).group_by(list(keys)).aggregate([])
    extra = other.join(present, keys=list(keys), join_type="left anti")
    if extra.num_rows == 0:
        return first
    rows = pa.concat_tables([first, extra.select(other.column_names)], promote_options="default")
    order = pc.sort_indices(rows, sort_keys=[(k, "ascending") for k in keys])
    return rows.take(order)
