"""Results in a real PostgreSQL through DuckDB's postgres extension."""

from __future__ import annotations

import pytest

from analysis_module.app.runner import FactorOptions, build_runner
from analysis_module.migrate import upgrade_database
from analysis_module.pipeline_core.errors import TransientError
from analysis_module.pipeline_core.records import breakdown_table, summary_table
from analysis_module.pipeline_core.schema import (
    JOB_SAMPLES,
    JOB_STEP_NODE,
    JOB_SUMMARY,
    JOB_TIMESERIES,
)
from analysis_module.settings import AnalysisSettings
from tests.support import postgres


@pytest.fixture(scope="module")
def pg_analysis():
    db = postgres.create_database("bs_analysis")
    upgrade_database(db.dsn)
    yield db
    postgres.drop_database(db)


def pg_settings(db, **extra) -> AnalysisSettings:
    return AnalysisSettings(
        POSTGRES_HOST=db.host,
        POSTGRES_PORT=db.port,
        POSTGRES_USER=db.user,
        POSTGRES_DB=db.dbname,
        INTEGRATION_RULE="left",
        **extra,
    )


@pytest.fixture
def pg_runner(pg_analysis):
    runner = build_runner(
        pg_settings(pg_analysis), factor_options=FactorOptions(flat_price_eur_per_kwh=0.25)
    )
    yield runner
    runner.close()


def scalar(db, sql, *params):
    with db.connect() as conn:
        return conn.execute(sql, params).fetchone()[0]


def test_tables_match_the_published_schema(pg_analysis, pg_runner, examples_dir):
    pg_runner.analyse_file(examples_dir / "job_5.h5", source="s3://b/user-x/job_5.h5")
    with pg_analysis.connect() as conn:
        for namespace, table, schema in (
            ("public", "job_summary", JOB_SUMMARY),
            ("public", "job_step_node", JOB_STEP_NODE),
            ("public", "job_5", JOB_TIMESERIES),
            ("results", "job_summary", JOB_SUMMARY),
            ("results", "job_samples", JOB_SAMPLES),
        ):
            columns = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (namespace, table),
            ).fetchall()
            assert [c for c, _ in columns] == schema.names, table
        time_type = conn.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 'job_5' AND column_name = 'time'"
        ).fetchone()[0]
    assert time_type == "timestamp with time zone"  # what Grafana's time series need


def test_job_lands_in_postgres_with_its_figures(pg_analysis, pg_runner, examples_dir):
    source = "s3://b/user-x/job_5.h5"
    outcome = pg_runner.analyse_file(examples_dir / "job_5.h5", source=source, owner="user-x")
    assert outcome.status == "ok"
    with pg_analysis.connect() as conn:
        row = conn.execute(
            "SELECT energy_j, cost_eur, owner, status, table_name FROM job_summary "
            "WHERE source = %s",
            (source,),
        ).fetchone()
        samples = conn.execute(
            "SELECT count(*), max(energy_j) FROM job_5 WHERE step = 'batch'"
        ).fetchone()
    assert row == (
        pytest.approx(3150.0),
        pytest.approx(3150 / 3.6e6 * 0.25),
        "user-x",
        "ok",
        "job_5",
    )
    assert samples[0] > 0 and samples[1] == pytest.approx(3150.0)


def test_readers_see_old_rows_until_the_new_ones_commit(pg_analysis, pg_runner, examples_dir):
    source = "s3://b/user-x/job_4.h5"
    pg_runner.analyse_file(examples_dir / "job_4.h5", source=source)
    before = scalar(pg_analysis, "SELECT count(*) FROM job_4")
    writer = pg_runner.sink.open_job(source, "job_4")  # a re-analysis has begun ...
    assert scalar(pg_analysis, "SELECT count(*) FROM job_4") == before  # ... readers see no gap
    writer.abort()
    assert scalar(pg_analysis, "SELECT count(*) FROM job_4") == before
    pg_runner.analyse_file(examples_dir / "job_4.h5", source=source)
    assert scalar(pg_analysis, "SELECT count(*) FROM job_4") == before  # replaced, not appended
    assert scalar(pg_analysis, "SELECT count(*) FROM job_summary WHERE source = %s", source) == 1


def test_view_dropped_outside_is_recreated_with_rows(pg_analysis, pg_runner, examples_dir):
    source = "s3://b/user-y/job_2.h5"
    pg_runner.analyse_file(examples_dir / "job_2.h5", source=source)
    with pg_analysis.connect() as conn:
        conn.execute("DROP VIEW job_2")
    pg_runner.analyse_file(examples_dir / "job_2.h5", source=source)
    assert scalar(pg_analysis, "SELECT count(*) FROM job_2") > 0


def test_corrupt_replacement_and_removal_are_recorded(
    pg_analysis, pg_runner, examples_dir, tmp_path
):
    source = "s3://b/user-z/job_5.h5"
    good = pg_runner.analyse_file(examples_dir / "job_5.h5", source=source)
    table = good.table_name
    assert table != "job_5"  # another source already holds job_5: no overwrite
    broken = tmp_path / "job_5.h5"
    broken.write_bytes((examples_dir / "job_5.h5").read_bytes()[:3000])
    failed = pg_runner.analyse_file(broken, source=source)
    assert failed.status == "failed" and "truncated" in failed.error
    row = scalar(
        pg_analysis, "SELECT status || ': ' || error FROM job_summary WHERE source = %s", source
    )
    assert row.startswith("failed: ") and "truncated" in row
    pg_runner.analyse_file(examples_dir / "job_5.h5", source=source)
    pg_runner.mark_removed(source)
    status = scalar(pg_analysis, "SELECT status FROM job_summary WHERE source = %s", source)
    assert status == "removed"
    assert scalar(pg_analysis, "SELECT to_regclass(%s) IS NULL", table)


def test_unreachable_postgres_is_transient(pg_analysis):
    settings = AnalysisSettings(POSTGRES_HOST="127.0.0.1", POSTGRES_PORT=1, POSTGRES_DB="x")
    with pytest.raises(TransientError, match="PostgreSQL unreachable"):
        build_runner(settings)


def test_a_table_name_taken_concurrently_is_a_retry_not_a_loss(
    pg_analysis, pg_runner, examples_dir
):
    # Two workers picked the same free name at once; the first committed. The second must
    # roll back completely and be retried (it then picks another name), never overwrite.
    pg_runner.analyse_file(examples_dir / "job_4.h5", source="s3://b/one/job_4.h5")
    before = scalar(pg_analysis, "SELECT count(*) FROM job_4")
    late = pg_runner.sink.open_job("s3://b/two/job_4.h5", "job_4")
    with pytest.raises(TransientError, match="taken"):
        late.finish(
            summary_table(source="s3://b/two/job_4.h5", status="ok", table_name="job_4"),
            breakdown_table("s3://b/two/job_4.h5", []),
        )
    assert scalar(pg_analysis, "SELECT count(*) FROM job_4") == before
    retried = pg_runner.analyse_file(examples_dir / "job_4.h5", source="s3://b/two/job_4.h5")
    assert retried.status == "ok" and retried.table_name.startswith("job_4_")
