"""Bodies of /benchmarks. Units live in the field names, as in the analysis tables."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from ..jobs.schemas import ID_DESCRIPTION

NAME_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"
NAME_DESCRIPTION = "Benchmark name: 1-128 of A-Z a-z 0-9 . _ -"


class FigureStats(BaseModel):
    """One figure over a benchmark's runs; runs where it is null are left out."""

    best: float | None = Field(None, description="Lowest, or highest for gflops_per_w.")
    median: float | None = None
    best_run: str | None = Field(None, description="Job id of the best run. " + ID_DESCRIPTION)
    count: int = Field(description="Runs that have this figure.")


class BenchmarkSummary(BaseModel):
    name: str = Field(description=NAME_DESCRIPTION)
    runs: int = Field(description="Analysed runs (status ok), with or without work figures.")
    last_run: datetime | None = Field(None, description="Latest start_time of a run.")
    energy_j: FigureStats
    time_to_solution_s: FigureStats
    edp_js: FigureStats
    gflops_per_w: FigureStats = Field(description="GFLOP per joule; best is the highest.")
    energy_per_gflop_j: FigureStats


class BenchmarkList(BaseModel):
    benchmarks: list[BenchmarkSummary]


class Run(BaseModel):
    id: str = Field(description=ID_DESCRIPTION)
    source: str
    job_id: str | None = Field(None, description="Slurm job id from the profile.")
    start_time: datetime | None = None
    n_nodes: int | None = None
    n_steps: int | None = None
    energy_j: float | None = None
    time_to_solution_s: float | None = None
    edp_js: float | None = None
    avg_power_w: float | None = None
    cost_eur: float | None = None
    co2_g: float | None = None
    work_source: str | None = Field(None, description="likwid or given")
    work_group: str | None = None
    work_unit: str | None = None
    work_value: float | None = None
    gflops: float | None = None
    gflop: float | None = None
    mem_bandwidth_gbytes_per_s: float | None = None
    energy_per_gflop_j: float | None = None
    gflops_per_w: float | None = None
    eur_per_gflop: float | None = None
    work_note: str | None = None


class RunPage(BaseModel):
    benchmark: str
    runs: list[Run]
    total: int = Field(description="Runs of the benchmark, over all pages.")
    sort: str
    order: str
    limit: int
    offset: int
