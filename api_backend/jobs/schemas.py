"""Bodies of /jobs. Units live in the field names, as in the analysis tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

ID_DESCRIPTION = (
    "Opaque job id: the unpadded URL-safe base64 of the analysed source "
    "(`s3://<bucket>/<key>`). Ids come from GET /jobs."
)


class Headline(BaseModel):
    has_energy: bool | None = None
    n_nodes: int | None = None
    n_steps: int | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    energy_j: float | None = None
    energy_kwh: float | None = None
    time_to_solution_s: float | None = None
    avg_power_w: float | None = None
    peak_power_w: float | None = None
    coverage: float | None = Field(None, description="Integrated node-seconds share, 0-1.")
    cost_eur: float | None = None
    co2_g: float | None = None


class JobItem(Headline):
    id: str = Field(description=ID_DESCRIPTION)
    key: str | None = Field(None, description="Object key, when the job came from an upload.")
    source: str
    status: str = Field(
        description="received, queued, running, ok, failed or removed",
        examples=["ok"],
    )
    error: str | None = None
    size_bytes: int | None = None
    job_id: str | None = Field(None, description="Slurm job id from the profile.")
    received_at: datetime | None = None
    updated_at: datetime | None = None
    analysed_at: datetime | None = None


class JobPage(BaseModel):
    jobs: list[JobItem]
    total: int = Field(description="Jobs matching the filter, over all pages.")
    limit: int
    offset: int


class Metrics(BaseModel):
    """Every figure of job_summary / job_step_node."""

    has_energy: bool | None = None
    power_source: str | None = None
    energy_scope: str | None = None
    n_nodes: int | None = None
    n_steps: int | None = None
    n_tasks: int | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    energy_j: float | None = None
    energy_kwh: float | None = None
    time_to_solution_s: float | None = None
    avg_power_w: float | None = None
    peak_power_w: float | None = None
    peak_power_epoch: int | None = None
    edp_js: float | None = None
    coverage: float | None = None
    gap_samples: int | None = None
    gap_intervals: int | None = None
    component_energy_j: dict[str, Any] | None = Field(
        None, description="Component energies (parsed component_energy_json)."
    )
    facility_energy_j: float | None = None
    cost_eur: float | None = None
    cost_note: str | None = None
    price_source: str | None = None
    co2_g: float | None = None
    co2_note: str | None = None
    carbon_source: str | None = None
    cpu_time_s: float | None = None
    max_rss_mib: float | None = None
    read_mib: float | None = None
    write_mib: float | None = None
    mean_cpu_util_pct: float | None = None
    appliance: str | None = None
    appliance_duration_s: float | None = None
    task_sentinel_values: int | None = Field(
        None, description="Task values that were Slurm sentinels or impossible, left null."
    )


class StepNodeMetrics(Metrics):
    step: str | None = None
    node: str | None = None


class JobDetail(BaseModel):
    id: str = Field(description=ID_DESCRIPTION)
    key: str | None = None
    source: str
    status: str
    error: str | None = None
    job_id: str | None = None
    analysed_at: datetime | None = None
    integration: str | None = None
    has_timeseries: bool
    summary: Metrics | None = Field(None, description="Whole-job figures; null before analysis.")
    steps: list[StepNodeMetrics] = Field(description="Per step, over all its nodes.")
    nodes: list[StepNodeMetrics] = Field(description="Per node, steps merged.")
    step_nodes: list[StepNodeMetrics] = Field(description="One step on one node.")


class TimeSeries(BaseModel):
    id: str
    columns: list[str] = Field(examples=[["step", "node", "time", "epoch_s", "power_w"]])
    rows: list[list[Any]]
    downsampled: bool
    max_points: int | None = Field(None, description="Per step and node, when downsampled.")
