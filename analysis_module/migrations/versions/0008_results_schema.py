"""One results layout for every job: the analysis' tables in schema `results`, every job's
samples in one long table, and `public` keeping the names readers use (docs/results-layout.md).

Revision ID: 0008_results_schema
Revises: 0007_upload_work
Create Date: 2026-12-02

- `job_summary`, `job_step_node` and `job_files` move to schema `results` (`SET SCHEMA`: no row
  is copied; indexes and constraints move with them). `public` gets a view of each under the
  same name; the views are simple, so PostgreSQL lets readers that write (the API sets a job's
  benchmark) update through them.
- `results.job_samples`: every job's samples, `table_name` (the job's `job_summary.table_name`)
  first, then the columns of a per-job table; indexed by (table_name, step, node, time).
- `results.public_relkind(name)`: the kind of relation `public.<name>` is (`r`, `v`, ...), or
  null; `results.publish_job_view(name)` makes `public.<name>` the view of that job's samples,
  replacing a per-job table of the earlier layout; `results.drop_job_relation(name)` drops
  either. The analysis calls them inside the transaction that writes the job, so a reader sees
  the old results or the new ones, never a gap.

Per-job tables written before stay where they are, and stay readable, until the job is
analysed again or `python -m analysis_module.move_job_tables` moves them.

A migration that adds a column to one of the moved tables must recreate its `public` view
(a view keeps the column list it was created with); one that adds a sample column must also
recreate `publish_job_view` and the per-job views.
"""

from alembic import op

revision = "0008_results_schema"
down_revision = "0007_upload_work"
branch_labels = None
depends_on = None

SHARED = ("job_summary", "job_step_node", "job_files")
SAMPLE_COLUMNS = (
    "step",
    "node",
    "time",
    "epoch_s",
    "elapsed_s",
    "power_w",
    "energy_j",
    "price_eur_per_mwh",
    "cost_eur",
    "carbon_g_per_kwh",
    "co2_g",
    "n_tasks_sampled",
    "cpu_util_pct",
    "cpu_time_s",
    "cpu_frequency_mhz",
    "rss_mib",
    "vmsize_mib",
    "read_mib",
    "write_mib",
    "gpu_util_pct",
    "gpu_mem_mib",
)


def _publish_function() -> str:
    columns = ", ".join(SAMPLE_COLUMNS)
    return f"""
    CREATE OR REPLACE FUNCTION results.publish_job_view(name text) RETURNS void
    LANGUAGE plpgsql AS $body$
    DECLARE
        kind "char";
    BEGIN
        kind := results.public_relkind(name);
        IF kind = 'r' THEN  -- the job's per-job table of the earlier layout
            EXECUTE format('DROP TABLE public.%I', name);
        ELSIF kind = 'v' THEN  -- replaced in place: views of users built on it stay valid
            BEGIN
                EXECUTE format(
                    'CREATE OR REPLACE VIEW public.%I AS SELECT {columns} '
                    'FROM results.job_samples WHERE table_name = %L', name, name);
                RETURN;
            EXCEPTION WHEN invalid_table_definition THEN  -- other columns: a view of another
                EXECUTE format('DROP VIEW public.%I', name);  -- layout, replaced
            END;
        ELSIF kind IS NOT NULL THEN
            RAISE EXCEPTION 'public.% is not a table or a view', name;
        END IF;
        EXECUTE format(
            'CREATE VIEW public.%I AS SELECT {columns} '
            'FROM results.job_samples WHERE table_name = %L', name, name);
    END
    $body$
    """


RELKIND_FUNCTION = """
CREATE OR REPLACE FUNCTION results.public_relkind(name text) RETURNS "char"
LANGUAGE sql STABLE AS $body$
    SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relname = name
$body$
"""

DROP_FUNCTION = """
CREATE OR REPLACE FUNCTION results.drop_job_relation(name text) RETURNS void
LANGUAGE plpgsql AS $body$
DECLARE
    kind "char";
BEGIN
    kind := results.public_relkind(name);
    IF kind = 'v' THEN
        EXECUTE format('DROP VIEW public.%I', name);
    ELSIF kind = 'r' THEN
        EXECUTE format('DROP TABLE public.%I', name);
    END IF;
END
$body$
"""


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS results")
    for table in SHARED:
        op.execute(f"ALTER TABLE public.{table} SET SCHEMA results")
        op.execute(f"CREATE VIEW public.{table} AS SELECT * FROM results.{table}")  # noqa: S608
    op.execute(
        """
        CREATE TABLE results.job_samples (
            table_name text NOT NULL,
            step text NOT NULL,
            node text NOT NULL,
            time timestamptz NOT NULL,
            epoch_s bigint NOT NULL,
            elapsed_s bigint,
            power_w double precision,
            energy_j double precision,
            price_eur_per_mwh double precision,
            cost_eur double precision,
            carbon_g_per_kwh double precision,
            co2_g double precision,
            n_tasks_sampled integer,
            cpu_util_pct double precision,
            cpu_time_s double precision,
            cpu_frequency_mhz double precision,
            rss_mib double precision,
            vmsize_mib double precision,
            read_mib double precision,
            write_mib double precision,
            gpu_util_pct double precision,
            gpu_mem_mib double precision
        )
        """
    )
    op.execute(
        "CREATE INDEX job_samples_job_idx ON results.job_samples (table_name, step, node, time)"
    )
    op.execute(RELKIND_FUNCTION)
    op.execute(_publish_function())
    op.execute(DROP_FUNCTION)


def downgrade() -> None:
    # Jobs written in this layout lose their samples; their summaries stay.
    op.execute(
        """
        DO $body$
        DECLARE item record;
        BEGIN
            FOR item IN SELECT DISTINCT table_name FROM results.job_samples LOOP
                PERFORM results.drop_job_relation(item.table_name);
            END LOOP;
        END
        $body$
        """
    )
    op.execute("DROP FUNCTION results.drop_job_relation(text)")
    op.execute("DROP FUNCTION results.publish_job_view(text)")
    op.execute("DROP FUNCTION results.public_relkind(text)")
    op.execute("DROP TABLE results.job_samples")
    for table in SHARED:
        op.execute(f"DROP VIEW public.{table}")
        op.execute(f"ALTER TABLE results.{table} SET SCHEMA public")
    op.execute("DROP SCHEMA results")
