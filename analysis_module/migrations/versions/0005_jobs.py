"""Jobs, not files: a Slurm job's node-step files become one job (docs/jobs.md).

Revision ID: 0005_jobs
Revises: 0004_task_sentinels
Create Date: 2026-12-01

- `job_summary` gets `benchmark`, `benchmark_set_by` (upload, cli or owner), `n_files`,
  `n_files_failed` and the work and efficiency columns (`gflops`, `energy_per_gflop_j`, ...),
  appended after the metrics (the analysis inserts rows positionally, in the
  column order of pipeline_core/schema.py).
- `job_files`: the files each job was built from, with their ETag and status.
- `ingest_objects` gets `job_source` (the job an object belongs to) and `benchmark` (what its
  upload said), so a job's files are found by one indexed lookup.

Rows written before keep a null benchmark and null file counts; their per-file sources are
replaced by the job's row the next time the job is analysed.
"""

from alembic import op

revision = "0005_jobs"
down_revision = "0004_task_sentinels"
branch_labels = None
depends_on = None

WORK_COLUMNS = (
    "work_source",
    "work_group",
    "work_unit",
    "work_value",
    "work_runtime_s",
    "gflops",
    "gflop",
    "mem_bandwidth_gbytes_per_s",
    "energy_per_gflop_j",
    "gflops_per_w",
    "eur_per_gflop",
    "work_note",
)


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE job_summary
            ADD COLUMN benchmark text,
            ADD COLUMN benchmark_set_by text
                CHECK (benchmark_set_by IN ('upload', 'cli', 'owner')),
            ADD COLUMN n_files integer,
            ADD COLUMN n_files_failed integer,
            ADD COLUMN work_source text CHECK (work_source IN ('likwid', 'given')),
            ADD COLUMN work_group text,
            ADD COLUMN work_unit text,
            ADD COLUMN work_value double precision,
            ADD COLUMN work_runtime_s double precision,
            ADD COLUMN gflops double precision,
            ADD COLUMN gflop double precision,
            ADD COLUMN mem_bandwidth_gbytes_per_s double precision,
            ADD COLUMN energy_per_gflop_j double precision,
            ADD COLUMN gflops_per_w double precision,
            ADD COLUMN eur_per_gflop double precision,
            ADD COLUMN work_note text
        """
    )
    op.execute(
        "CREATE INDEX job_summary_owner_benchmark_idx ON job_summary "
        "(owner, benchmark, start_time DESC)"
    )
    op.execute(
        """
        CREATE TABLE job_files (
            job_source text NOT NULL,
            file_source text NOT NULL,
            file_name text NOT NULL,
            role text NOT NULL CHECK (role IN ('node_step', 'merged', 'single', 'likwid')),
            etag text,
            step text,
            node text,
            status text NOT NULL CHECK (status IN ('ok', 'failed')),
            error text,
            analysed_at timestamptz NOT NULL,
            PRIMARY KEY (job_source, file_source)
        )
        """
    )
    op.execute("CREATE INDEX job_files_file_idx ON job_files (file_source)")
    op.execute("ALTER TABLE ingest_objects ADD COLUMN job_source text, ADD COLUMN benchmark text")
    op.execute("CREATE INDEX ingest_objects_job_idx ON ingest_objects (job_source)")


def downgrade() -> None:
    op.execute("DROP INDEX ingest_objects_job_idx")
    op.execute("ALTER TABLE ingest_objects DROP COLUMN job_source, DROP COLUMN benchmark")
    op.execute("DROP TABLE job_files")
    op.execute("DROP INDEX job_summary_owner_benchmark_idx")
    op.execute(
        "ALTER TABLE job_summary DROP COLUMN benchmark, DROP COLUMN benchmark_set_by, "
        "DROP COLUMN n_files, DROP COLUMN n_files_failed, "
        + ", ".join(f"DROP COLUMN {column}" for column in WORK_COLUMNS)
    )
