"""Rows in the analysis' tables (created by its migrations in `pg_db`), as the analysis
writes them: columns of analysis_module/pipeline_core/schema.py and docs/architecture.md.
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
) -> str:
    """An analysed upload of `namespace`; returns its source."""
    key = f"{namespace}/{name}"
    source = f"s3://{bucket}/{key}"
    now = datetime.now(UTC)
    if with_ingest:
        conn.execute(
            """INSERT INTO ingest_objects (bucket, key, source, owner, etag, size_bytes, status,
               received_at, updated_at) VALUES (%s, %s, %s, %s, 'etag', 1234, %s, %s, %s)""",
            (bucket, key, source, namespace, status, now - timedelta(minutes=5), now),
        )
    if status in ("ok", "failed", "removed"):
        conn.execute(
            """INSERT INTO job_summary (source, job_id, owner, status, table_name, analysed_at,
               integration, has_energy, n_nodes, n_steps, energy_j, energy_kwh,
               time_to_solution_s, avg_power_w, peak_power_w, cost_eur, co2_g,
               component_energy_json)
               VALUES (%s, '5', %s, %s, %s, %s, 'trapezoid', true, 2, 1, %s, %s, 60.0, 60.0,
                       80.0, 0.12, 40.0, '{"gpu": 100.0}')""",
            (
                source,
                namespace,
                status,
                table_name,
                now,
                energy_j,
                energy_j / 3.6e6 if energy_j is not None else None,
            ),
        )
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
