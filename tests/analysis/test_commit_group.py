"""Group commit: small jobs written several to a transaction, into a DuckDB file and PostgreSQL."""

from __future__ import annotations

import duckdb
import pytest

from analysis_module.app.commit_group import CommitGroup, GroupLimits
from analysis_module.app.job_assembly import FileInput, JobInput
from analysis_module.app.runner import FactorOptions, build_runner
from analysis_module.migrate import upgrade_database
from analysis_module.settings import AnalysisSettings
from tests.support import postgres
from tests.support.slurm_synth import write_synthetic_job

SUMMARY = "SELECT source, status, table_name, energy_j, n_tasks FROM job_summary ORDER BY source"


@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    """Six small one-node jobs (30-80 samples) and a corrupt file between them."""
    folder = tmp_path_factory.mktemp("small")
    paths = []
    for i in range(6):
        path = folder / f"job_{500 + i}.h5"
        write_synthetic_job(
            path, n_nodes=1, tasks_per_node=1, duration_s=30 + 10 * i, start_epoch=1_700_000_000
        )
        paths.append(path)
    broken = folder / "job_599.h5"
    broken.write_bytes(b"not an HDF5 file")
    paths.insert(3, broken)
    return paths


def job(path, source=None) -> JobInput:
    source = source or f"s3://b/user-a/{path.name}"
    return JobInput(source, (FileInput(path, source),), owner="user-a")


@pytest.fixture(params=["duckdb", "postgres"])
def make(request, tmp_path):
    """make() -> (runner, read(sql)): reads through a connection of its own."""
    runners, databases = [], []

    def factory():
        if request.param == "duckdb":
            settings = AnalysisSettings(DUCKDB_PATH=tmp_path / f"r{len(runners)}.duckdb")
        else:
            db = postgres.create_database("bs_group")
            databases.append(db)
            upgrade_database(db.dsn)
            settings = AnalysisSettings(
                POSTGRES_HOST=db.host, POSTGRES_PORT=db.port, POSTGRES_USER=db.user,
                POSTGRES_DB=db.dbname,
            )  # fmt: skip
        runner = build_runner(settings, factor_options=FactorOptions(flat_price_eur_per_kwh=0.2))
        runners.append(runner)

        def read(sql: str):
            if request.param == "duckdb":  # one process holds the file: its own connection
                return runner.sink.con.cursor().execute(sql).fetchall()
            with databases[-1].connect() as conn:
                return [tuple(row) for row in conn.execute(sql).fetchall()]

        return runner, read

    yield factory
    for runner in runners:
        runner.close()
    for db in databases:
        postgres.drop_database(db)


def analyse_all(runner, paths, limits=None, **kw):
    outcomes = []
    with CommitGroup(runner, limits, **kw) as group:
        for path in paths:
            outcomes += group.analyse(job(path))
        outcomes += group.close()
    return outcomes


def samples(read, name: str):
    return read(f"SELECT step, node, time, power_w FROM {name} ORDER BY step, node, time")


def test_a_group_stores_what_jobs_alone_store(make, profiles):
    alone, read_alone = make()
    for path in profiles:
        alone.analyse_job(job(path))
    grouped, read_grouped = make()
    outcomes = analyse_all(grouped, profiles, GroupLimits(max_jobs=4))

    assert [o.source for o in outcomes] == [job(p).source for p in profiles]  # in order
    assert [o.status for o in outcomes] == ["ok"] * 3 + ["failed"] + ["ok"] * 3
    assert "job_599.h5" in outcomes[3].error
    assert read_grouped(SUMMARY) == read_alone(SUMMARY)
    for outcome in outcomes:
        if outcome.status == "ok":
            rows = samples(read_grouped, outcome.table_name)
            assert rows and rows == samples(read_alone, outcome.table_name)
    files = "SELECT job_source, file_name, status FROM job_files ORDER BY job_source"
    assert read_grouped(files) == read_alone(files)


def test_nothing_is_visible_or_told_before_the_group_commits(make, profiles):
    runner, read = make()
    good = [p for p in profiles if p.name != "job_599.h5"]
    frozen = lambda: 0.0  # noqa: E731 (no write for time's sake, however slow the machine)
    with CommitGroup(runner, GroupLimits(max_jobs=3), clock=frozen) as group:
        assert group.analyse(job(good[0])) == []
        assert group.analyse(job(good[1])) == []
        assert read("SELECT count(*) FROM job_summary") == [(0,)]
        told = group.analyse(job(good[2]))  # the third fills the group: written, told
        assert [o.source for o in told] == [job(p).source for p in good[:3]]
        assert read("SELECT count(*) FROM job_summary WHERE status = 'ok'") == [(3,)]
        assert group.analyse(job(good[3])) == []
        assert [o.source for o in group.close()] == [job(good[3]).source]
    assert read("SELECT count(*) FROM job_summary") == [(4,)]


def test_a_job_that_cannot_be_stored_fails_alone(make, profiles):
    runner, read = make()
    good = [p for p in profiles if p.name != "job_599.h5"]
    bad = job(good[1]).source
    real = runner.sink.write_jobs

    def failing(jobs):  # a fault of the store on one job (the sink is otherwise real)
        if any(item.source == bad for item in jobs):
            raise duckdb.ConstraintException("Constraint Error: injected fault")
        real(jobs)

    runner.sink.write_jobs = failing
    outcomes = analyse_all(runner, good[:4], GroupLimits(max_jobs=10))

    assert [o.status for o in outcomes] == ["ok", "failed", "ok", "ok"]
    assert outcomes[1].error.startswith("internal error: the results could not be stored")
    assert "injected fault" in outcomes[1].error
    rows = dict(read("SELECT source, status FROM job_summary"))
    assert rows == {job(p).source: "ok" for p in good[:4]} | {bad: "failed"}
    assert samples(read, outcomes[0].table_name)


def test_a_big_job_streams_alone_after_the_held_ones(make, profiles):
    good = [p for p in profiles if p.name != "job_599.h5"]  # 31, 41, ... 81 samples
    alone, read_alone = make()
    for path in good:
        alone.analyse_job(job(path))
    runner, read = make()
    outcomes = analyse_all(runner, good, GroupLimits(max_jobs=10, max_job_rows=55))
    assert [o.source for o in outcomes] == [job(p).source for p in good]
    assert all(o.status == "ok" for o in outcomes)
    assert read(SUMMARY) == read_alone(SUMMARY)
    for outcome in outcomes:
        assert samples(read, outcome.table_name) == samples(read_alone, outcome.table_name)


def test_the_same_source_twice_and_the_same_job_name_from_two_folders(make, profiles):
    runner, read = make()
    path = profiles[0]
    with CommitGroup(runner) as group:
        outcomes = group.analyse(job(path)) + group.analyse(job(path))
        outcomes += group.analyse(job(path, f"s3://b/user-b/{path.name}"))
        outcomes += group.close()
    assert [o.status for o in outcomes] == ["ok"] * 3
    names = read("SELECT source, table_name FROM job_summary ORDER BY source")
    assert len(names) == 2 and len({name for _, name in names}) == 2
    for _, name in names:
        assert len(samples(read, name)) == len(samples(read, names[0][1]))


def test_a_held_job_waits_at_most_max_seconds(make, profiles):
    runner, read = make()
    now = [0.0]
    good = [p for p in profiles if p.name != "job_599.h5"]
    with CommitGroup(runner, GroupLimits(max_seconds=2.0), clock=lambda: now[0]) as group:
        assert group.analyse(job(good[0])) == []
        now[0] = 1.9
        assert group.analyse(job(good[1])) == []
        now[0] = 2.0  # the oldest has waited 2 s: written before the next job starts
        told = group.analyse(job(good[2]))
        assert [o.source for o in told] == [job(p).source for p in good[:2]]
        assert read("SELECT count(*) FROM job_summary") == [(2,)]
        group.close()
