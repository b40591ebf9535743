"""Column layouts of the tables the analysis publishes (the contract Grafana and the API read).

Units live in the column names. The PostgreSQL migrations create the same columns; a test
holds the two together.
"""

from __future__ import annotations

import pyarrow as pa

# Metrics shared by job_summary (whole job) and job_step_node (per step, node, step and node).
METRIC_FIELDS: list[pa.Field] = [
    pa.field("has_energy", pa.bool_()),
    pa.field("power_source", pa.string()),
    pa.field("energy_scope", pa.string()),
    pa.field("n_nodes", pa.int32()),
    pa.field("n_steps", pa.int32()),
    pa.field("n_tasks", pa.int32()),
    pa.field("start_time", pa.timestamp("us", tz="UTC")),
    pa.field("end_time", pa.timestamp("us", tz="UTC")),
    pa.field("energy_j", pa.float64()),
    pa.field("energy_kwh", pa.float64()),
    pa.field("time_to_solution_s", pa.float64()),
    pa.field("avg_power_w", pa.float64()),
    pa.field("peak_power_w", pa.float64()),
    pa.field("peak_power_epoch", pa.int64()),
    pa.field("edp_js", pa.float64()),
    pa.field("coverage", pa.float64()),
    pa.field("gap_samples", pa.int64()),
    pa.field("gap_intervals", pa.int64()),
    pa.field("component_energy_json", pa.string()),
    pa.field("facility_energy_j", pa.float64()),
    pa.field("cost_eur", pa.float64()),
    pa.field("cost_note", pa.string()),
    pa.field("price_source", pa.string()),
    pa.field("co2_g", pa.float64()),
    pa.field("co2_note", pa.string()),
    pa.field("carbon_source", pa.string()),
    pa.field("cpu_time_s", pa.float64()),
    pa.field("max_rss_mib", pa.float64()),
    pa.field("read_mib", pa.float64()),
    pa.field("write_mib", pa.float64()),
    pa.field("mean_cpu_util_pct", pa.float64()),
    pa.field("appliance", pa.string()),
    pa.field("appliance_duration_s", pa.float64()),
    # last: migration 0004 appends it to tables that existed before (inserts are positional)
    pa.field("task_sentinel_values", pa.int64()),
]

# Work done and energy efficiency (docs/energy-metrics.md section 8): from likwid-perfctr output
# beside the job's profiles, or a figure of merit given with the job (`--work UNIT=VALUE`).
WORK_FIELDS: list[pa.Field] = [
    pa.field("work_source", pa.string()),  # likwid | given
    pa.field("work_group", pa.string()),  # the LIKWID group (FLOPS_DP, MEM_DP, ...)
    pa.field("work_unit", pa.string()),  # a given figure's unit (GFLOP/s, GB/s, ...)
    pa.field("work_value", pa.float64()),
    pa.field("work_runtime_s", pa.float64()),
    pa.field("gflops", pa.float64()),  # GFLOP/s, double precision where measured
    pa.field("gflop", pa.float64()),  # total work
    pa.field("mem_bandwidth_gbytes_per_s", pa.float64()),
    pa.field("energy_per_gflop_j", pa.float64()),
    pa.field("gflops_per_w", pa.float64()),  # GFLOP per joule = GFLOP/s per W (Green500)
    pa.field("eur_per_gflop", pa.float64()),
    pa.field("work_note", pa.string()),  # why a figure is missing (a garbled file, no energy)
]

# One row per job; `source` is the key: `<folder>/job_<jobid>` for a Slurm job's files (a local
# folder or s3://bucket/prefix), else the file's own source (a local path or s3://bucket/key).
JOB_SUMMARY = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("job_id", pa.string()),
        pa.field("owner", pa.string()),
        pa.field("source_etag", pa.string()),
        pa.field("status", pa.string(), nullable=False),  # ok | failed | removed
        pa.field("error", pa.string()),
        pa.field("table_name", pa.string()),
        pa.field("analysed_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("integration", pa.string()),
        *METRIC_FIELDS,
        # migration 0005 appends these and WORK_FIELDS (after the metrics: inserts are positional)
        pa.field("benchmark", pa.string()),
        pa.field("benchmark_set_by", pa.string()),  # upload | cli | owner
        pa.field("n_files", pa.int32()),  # profile files the job was built from
        pa.field("n_files_failed", pa.int32()),  # of those, files that could not be read
        *WORK_FIELDS,
    ]
)

# One row per file of a job (docs/jobs.md): which files a job's figures come from, and why a
# file was left out. `job_source` is job_summary.source.
JOB_FILES = pa.schema(
    [
        pa.field("job_source", pa.string(), nullable=False),
        pa.field("file_source", pa.string(), nullable=False),
        pa.field("file_name", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),  # node_step | merged | single | likwid
        pa.field("etag", pa.string()),
        pa.field("step", pa.string()),  # what a node-step file's name says
        pa.field("node", pa.string()),
        pa.field("status", pa.string(), nullable=False),  # ok | failed
        pa.field("error", pa.string()),
        pa.field("analysed_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

# level: "step" (step over all its nodes), "node" (node over the whole job, steps merged),
# "step_node" (one step on one node). Per-step figures are never summed into job totals.
JOB_STEP_NODE = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("level", pa.string(), nullable=False),
        pa.field("step", pa.string()),
        pa.field("node", pa.string()),
        *METRIC_FIELDS,
    ]
)

# job_<stem>: one row per step, node and sample time (full outer join of Energy and Tasks
# sample times within that step on that node). Cumulative columns restart per step and node.
JOB_TIMESERIES = pa.schema(
    [
        pa.field("step", pa.string(), nullable=False),
        pa.field("node", pa.string(), nullable=False),
        pa.field("time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("epoch_s", pa.int64(), nullable=False),
        pa.field("elapsed_s", pa.int64()),
        pa.field("power_w", pa.float64()),
        pa.field("energy_j", pa.float64()),
        pa.field("price_eur_per_mwh", pa.float64()),
        pa.field("cost_eur", pa.float64()),
        pa.field("carbon_g_per_kwh", pa.float64()),
        pa.field("co2_g", pa.float64()),
        pa.field("n_tasks_sampled", pa.int32()),
        pa.field("cpu_util_pct", pa.float64()),
        pa.field("cpu_time_s", pa.float64()),
        pa.field("cpu_frequency_mhz", pa.float64()),
        pa.field("rss_mib", pa.float64()),
        pa.field("vmsize_mib", pa.float64()),
        pa.field("read_mib", pa.float64()),
        pa.field("write_mib", pa.float64()),
        pa.field("gpu_util_pct", pa.float64()),
        pa.field("gpu_mem_mib", pa.float64()),
    ]
)

# Every job's samples in one table: `table_name` (the job's job_summary.table_name) first, then
# the columns above. Readers see one job as the view `job_<jobid>` (docs/results-layout.md).
JOB_SAMPLES = pa.schema([pa.field("table_name", pa.string(), nullable=False), *JOB_TIMESERIES])
