"""Result tables: job_summary and job_step_node.

Revision ID: 0001_results
Revises:
Create Date: 2026-11-28
"""

from alembic import op

revision = "0001_results"
down_revision = None
branch_labels = None
depends_on = None

METRIC_COLUMNS = """
    has_energy boolean,
    power_source text,
    energy_scope text,
    n_nodes integer,
    n_steps integer,
    n_tasks integer,
    start_time timestamptz,
    end_time timestamptz,
    energy_j double precision,
    energy_kwh double precision,
    time_to_solution_s double precision,
    avg_power_w double precision,
    peak_power_w double precision,
    peak_power_epoch bigint,
    edp_js double precision,
    coverage double precision,
    gap_samples bigint,
    gap_intervals bigint,
    component_energy_json text,
    facility_energy_j double precision,
    cost_eur double precision,
    cost_note text,
    price_source text,
    co2_g double precision,
    co2_note text,
    carbon_source text,
    cpu_time_s double precision,
    max_rss_mib double precision,
    read_mib double precision,
    write_mib double precision,
    mean_cpu_util_pct double precision,
    appliance text,
    appliance_duration_s double precision
"""


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE job_summary (
            source text PRIMARY KEY,
            job_id text,
            owner text,
            source_etag text,
            status text NOT NULL CHECK (status IN ('ok', 'failed', 'removed')),
            error text,
            table_name text,
            analysed_at timestamptz NOT NULL,
            integration text,
            {METRIC_COLUMNS}
        )
        """
    )
    op.execute("CREATE INDEX job_summary_owner_idx ON job_summary (owner, analysed_at DESC)")
    op.execute("CREATE UNIQUE INDEX job_summary_table_name_idx ON job_summary (table_name)")
    op.execute(
        f"""
        CREATE TABLE job_step_node (
            source text NOT NULL,
            level text NOT NULL CHECK (level IN ('step', 'node', 'step_node')),
            step text,
            node text,
            {METRIC_COLUMNS}
        )
        """
    )
    op.execute("CREATE INDEX job_step_node_source_idx ON job_step_node (source, level)")


def downgrade() -> None:
    op.execute("DROP TABLE job_step_node")
    op.execute("DROP TABLE job_summary")
