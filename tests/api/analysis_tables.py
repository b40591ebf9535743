"""Rows in the analysis' tables (created by its migrations in `pg_db`), as the analysis
writes them: columns of analysis_module/pipeline_core/schema.py and docs/architecture.md.
A Slurm job's node-step files are one job_summary row keyed `<folder>/job_<id>`, with a
job_files row per file and ingest_objects rows naming it as their job_source.
The per-job `job_<stem>` tables are made by the analysis at run time, so tests make theirs."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import psycopg

TIMESERIES_DDL = """CREATE TABLE "{name}" (
    step text NOT NULL, node text NOT NULL, time timestamptz NOT NULL, epoch_s bigint NOT NULL,
    elapsed_s bigint, power_w double precision, energy_j double precision,
    price_eur_per_mwh double precision, cost_eur double precision,
    carbon_g_per_kwh double precision, co2_g double precision, n_tasks_sampled integer,
    cpu_util_pct double precision, cpu_time_s double precision,
    cpu_frequency_mhz double precision, rss_mib double precision, vmsize_mib double precision,
    read_mib double precision, write_mib double precision, gpu_util_pct double precision,
    gpu_mem_mib double precision)"""


def job_id_of(source: str) -> str:
    return base64.urlsafe_b64encode(source.encode()).rstrip(b"=").decode()


def _files_of(name: str) -> list[str]:
    """A job key's files: `<folder>/job_<id>` is two nodes' step 0 and the batch step on one;
    anything else is a file of its own."""
    folder, _, stem = name.rpartition("/")
    if not stem.startswith("job_") or stem.endswith(".h5"):
        return [name]
    job = stem.removeprefix("job_")
    prefix = f"{folder}/" if folder else ""
    return [f"{prefix}{job}_0_n1.h5", f"{prefix}{job}_0_n2.h5", f"{prefix}{job}_batch_n1.h5"]


def _add_uploads(conn, bucket, namespace, job_source, files, status, benchmark) -> None:
    now = datetime.now(UTC)
    for file in files:
        key = f"{namespace}/{file}"
        conn.execute(
            """INSERT INTO ingest_objects (bucket, key, source, owner, etag, size_bytes, status,
               received_at, updated_at, job_source, benchmark)
               VALUES (%s, %s, %s, %s, 'etag', 1234, %s, %s, %s, %s, %s)""",
            (
                bucket,
                key,
                f"s3://{bucket}/{key}",
                namespace,
                status,
                now - timedelta(minutes=5),
                now,
                job_source,
                benchmark,
            ),
        )


def _add_job_files(conn, bucket, namespace, job_source, files) -> None:
    for file in files:
        name = file.rpartition("/")[2]
        parts = name.removesuffix(".h5").split("_", 2)
        node_step = len(files) > 1
        conn.execute(
            """INSERT INTO job_files (job_source, file_source, file_name, role, etag, step,
               node, status, error, analysed_at)
               VALUES (%s, %s, %s, %s, 'etag', %s, %s, %s, %s, now())""",
            (
                job_source,
                f"s3://{bucket}/{namespace}/{file}",
                name,
                "node_step" if node_step else "single",
                parts[1] if node_step else None,
                parts[2] if node_step else None,
                "failed" if name.startswith("broken") else "ok",
                "not an HDF5 file" if name.startswith("broken") else None,
            ),
        )


def add_job(
    conn: psycopg.Connection,
    *,
    bucket: str,
    namespace: str,
    name: str,
    status: str = "ok",
    energy_j: float | None = 3600.0,
    with_ingest: bool = True,
    table_name: str | None = None,
    benchmark: str | None = None,
    start_time: datetime | None = None,
    files: list[str] | None = None,
) -> str:
    """A job of `namespace` (a key inside its folder: `run1/job_5` for a Slurm job's files,
    `x.h5` for a file of its own) as the analysis leaves it; returns its source (the key).
    A status before analysis (received, queued, running) makes upload rows only."""
    source = f"s3://{bucket}/{namespace}/{name}"
    files = files if files is not None else _files_of(name)
    analysed = status in ("ok", "failed", "removed")
    if with_ingest:
        _add_uploads(conn, bucket, namespace, source, files, status, benchmark)
    if analysed:
        start = start_time or datetime.now(UTC) - timedelta(hours=1)
        conn.execute(
            """INSERT INTO job_summary (source, job_id, owner, status, table_name, analysed_at,
               integration, has_energy, n_nodes, n_steps, energy_j, energy_kwh,
               time_to_solution_s, avg_power_w, peak_power_w, cost_eur, co2_g,
               component_energy_json, start_time, end_time, benchmark, benchmark_set_by,
               n_files, n_files_failed)
               VALUES (%s, '5', %s, %s, %s, %s, 'trapezoid', true, 2, 1, %s, %s, 60.0, 60.0,
                       80.0, 0.12, 40.0, '{"gpu": 100.0}', %s, %s, %s, %s, %s, %s)""",
            (
                source,
                namespace,
                status,
                table_name,
                datetime.now(UTC),
                energy_j,
                energy_j / 3.6e6 if energy_j is not None else None,
                start,
                start + timedelta(seconds=60),
                benchmark,
                "upload" if benchmark else None,
                len(files),
                sum(f.rpartition("/")[2].startswith("broken") for f in files),
            ),
        )
        _add_job_files(conn, bucket, namespace, source, files)
        for level, step, node in (
            ("step", "0", None),
            ("node", None, "n1"),
            ("step_node", "0", "n1"),
        ):
            conn.execute(
                """INSERT INTO job_step_node (source, level, step, node, energy_j, avg_power_w)
                   VALUES (%s, %s, %s, %s, 100.0, 50.0)""",
                (source, level, step, node),
            )
    return source


def add_timeseries(conn: psycopg.Connection, name: str, samples: int = 10) -> None:
    """Two nodes of step 0, one sample a second: power 10*i W, cumulative energy."""
    conn.execute(TIMESERIES_DDL.format(name=name))
    start = 1_700_000_000
    for node in ("n1", "n2"):
        for i in range(samples):
            conn.execute(
                f"""INSERT INTO "{name}" (step, node, time, epoch_s, elapsed_s, power_w, energy_j,
                    rss_mib) VALUES ('0', %s, to_timestamp(%s), %s, %s, %s, %s, %s)""",
                (node, start + i, start + i, i, 10.0 * i, 100.0 * i, float(i % 3)),
            )
