"""What an analysis starts from: the shape of an open profile and the options of the integration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa


class NodeStepLike(Protocol):
    step: str
    node: str
    n_tasks: int | None
    series: tuple[str, ...]
    task_ranks: tuple[int, ...]


class ProfileLike(Protocol):
    job_id: str | None
    node_steps: Sequence[NodeStepLike]

    def read_energy(self, ns: NodeStepLike) -> pa.Table | None: ...
    def read_tasks(self, ns: NodeStepLike) -> pa.Table | None: ...
    def read_network(self, ns: NodeStepLike) -> pa.Table | None: ...
    def read_filesystem(self, ns: NodeStepLike) -> pa.Table | None: ...


@dataclass(frozen=True)
class AnalysisOptions:
    rule: str = "trapezoid"
    gap_factor: float = 3.0
    power_ceiling_w: float = 100_000.0
    pue: float | None = None
    power_plugin: str | None = None  # the site's energy plugin, when `Power` is ambiguous
    max_interval_s: float | None = 3600.0  # longer intervals are gaps whatever the median
