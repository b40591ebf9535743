"""Bodies of /jobs. Units live in the field names, as in the analysis tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ID_DESCRIPTION = (
    "Opaque job id: the unpadded URL-safe base64 of the job's key (`s3://<bucket>/<folder>/"
    "job_<jobid>` for a Slurm job's files, the object's own source for a file of its own). "
    "Ids come from GET /jobs."
)
STATUS_DESCRIPTION = (
    "ok or failed once analysed; pending (files arrived) or queued (being analysed) before; "
    "failed also when every file failed before any analysis"
)
BENCHMARK_DESCRIPTION = "The benchmark this job ran, from its upload, the CLI or its owner."
SET_BY_DESCRIPTION = "Who named the benchmark: upload, cli or owner (PATCH /jobs/{id})."


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


class JobFacts(BaseModel):
    benchmark: str | None = Field(None, description=BENCHMARK_DESCRIPTION)
    benchmark_set_by: str | None = Field(None, description=SET_BY_DESCRIPTION)
    n_files: int | None = Field(None, description="Profile files the job is built from.")
    n_files_failed: int | None = Field(None, description="Of those, files that failed.")


class JobItem(Headline, JobFacts):
    id: str = Field(description=ID_DESCRIPTION)
    key: str | None = Field(
        None, description="The job's key inside the bucket (for a file of its own, its object key)."
    )
    source: str = Field(description="The job's key: job_summary.source.")
    status: str = Field(description=STATUS_DESCRIPTION, examples=["ok"])
    error: str | None = None
    size_bytes: int | None = Field(None, description="Bytes of the job's uploaded files.")
    job_id: str | None = Field(None, description="Slurm job id from the profile.")
    received_at: datetime | None = Field(None, description="When its first file arrived.")
    updated_at: datetime | None = Field(None, description="When a file of it last changed.")
    analysed_at: datetime | None = None


class JobPage(BaseModel):
    jobs: list[JobItem]
    total: int = Field(description="Jobs matching the filters, over all pages.")
    limit: int
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last page."
    )


class JobFile(BaseModel):
    name: str = Field(
        description="File name relative to the job's folder, e.g. `5_0_node1.h5`, `job_5.h5` "
        "or `mybench/job_5/flops_5.csv`."
    )
    source: str = Field(description="`s3://<bucket>/<key>` of the file.")
    role: str | None = Field(
        None,
        description="node_step, merged, single or likwid (likwid-perfctr output); null before "
        "the analysis.",
    )
    step: str | None = Field(None, description="What a node-step file's name says.")
    node: str | None = None
    status: str = Field(
        description="ok or failed as analysed; before that, the upload's state "
        "(received, queued, running, failed)."
    )
    error: str | None = None
    etag: str | None = None
    analysed_at: datetime | None = None


class BenchmarkUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    benchmark: str | None = Field(
        description="1-128 of `A-Z a-z 0-9 . _ -`, or null for none.", examples=["hpl-2026"]
    )


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


class Work(BaseModel):
    """What the job did and its energy efficiency (docs/energy-metrics.md section 8), from
    likwid-perfctr output beside its profiles or a figure of merit given with it."""

    work_source: str | None = Field(None, description="likwid or given.")
    work_group: str | None = Field(None, description="The LIKWID group (FLOPS_DP, MEM_DP, ...).")
    work_unit: str | None = Field(None, description="A given figure's unit (GFLOP/s, GB/s).")
    work_value: float | None = None
    work_runtime_s: float | None = None
    gflops: float | None = Field(None, description="GFLOP/s, double precision where measured.")
    gflop: float | None = None
    mem_bandwidth_gbytes_per_s: float | None = None
    energy_per_gflop_j: float | None = None
    gflops_per_w: float | None = Field(None, description="GFLOP per joule (Green500).")
    eur_per_gflop: float | None = None
    work_note: str | None = Field(None, description="Why a figure is missing.")


class StepNodeMetrics(Metrics):
    step: str | None = None
    node: str | None = None


class JobDetail(JobFacts):
    id: str = Field(description=ID_DESCRIPTION)
    key: str | None = None
    source: str
    status: str = Field(description=STATUS_DESCRIPTION)
    error: str | None = None
    job_id: str | None = None
    analysed_at: datetime | None = None
    integration: str | None = None
    has_timeseries: bool
    summary: Metrics | None = Field(None, description="Whole-job figures; null before analysis.")
    work: Work | None = Field(
        None, description="Work and efficiency; null when the job has no work figures."
    )
    files: list[JobFile] = Field(description="The files the job is built from.")
    steps: list[StepNodeMetrics] = Field(description="Per step, over all its nodes.")
    nodes: list[StepNodeMetrics] = Field(description="Per node, steps merged.")
    step_nodes: list[StepNodeMetrics] = Field(description="One step on one node.")


class TimeSeries(BaseModel):
    id: str
    columns: list[str] = Field(examples=[["step", "node", "time", "epoch_s", "power_w"]])
    rows: list[list[Any]]
    downsampled: bool
    max_points: int | None = Field(None, description="Per step and node, when downsampled.")


class ReportLink(BaseModel):
    url: str = Field(description="Opens the job's report page without an access token.")
    expires_at: datetime
