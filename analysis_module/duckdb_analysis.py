"""Batch analysis of Slurm HDF5 profiles.

    .venv/bin/python analysis_module/duckdb_analysis.py --help


Embedded defaults: profiles from local files or folders, results into ./analysis.duckdb. With
POSTGRES_HOST set, results go to PostgreSQL instead; with `--s3` (or MINIO_SYNC=1) profiles come
from the bucket; `--rescan` enqueues the bucket's unanalysed objects for the workers.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer._click.exceptions import UsageError  # the click that the pinned typer bundles

from analysis_module.app.batch_inputs import (
    JobGroup,
    group_jobs,
    is_csv,
    local_inputs,
    s3_inputs,
)
from analysis_module.app.commit_group import CommitGroup, GroupLimits
from analysis_module.app.report_files import check_report_dir, write_job_report
from analysis_module.app.runner import JobAnalysisResult, build_runner, default_factor_options
from analysis_module.batch_flags import (
    BENCHMARK_NAME,
    FLAG_OF_SETTING,
    AsJsonFlag,
    BenchmarkFlag,
    CarbonFileFlag,
    CarbonIntensityFlag,
    DbFlag,
    FetchPriceFlag,
    FlatPriceFlag,
    GapFactorFlag,
    IntegrationFlag,
    JobsPerCommitFlag,
    PriceFileFlag,
    PriceFilterIdFlag,
    PriceRegionFlag,
    PriceResolutionFlag,
    PueFlag,
    ReportFlag,
    RescanFlag,
    RetryFailedFlag,
    S3Flag,
    SourceFlag,
    WorkFlag,
)
from analysis_module.cli_report import outcome_lines, rescan_summary
from analysis_module.pipeline_core.errors import TransientError
from analysis_module.pipeline_core.identity import object_source
from analysis_module.pipeline_core.text import one_line
from analysis_module.pipeline_core.work import WorkSpecError, parse_work_spec
from analysis_module.settings import AnalysisSettings
from analysis_module.startup import (
    ConfigurationError,
    apply_migrations,
    exit_on_configuration_error,
    settings_or_exit,
)

app = typer.Typer(add_completion=False, help=__doc__, rich_markup_mode=None)
err = Console(stderr=True)


class NothingToAnalyse(Exception):
    """The sources hold no profile: said in one line (exit 2 for local paths, 0 for a bucket)."""


def _jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@app.command()
def main(
    source: SourceFlag = None,
    db: DbFlag = None,
    s3: S3Flag = False,
    rescan: RescanFlag = False,
    price_file: PriceFileFlag = None,
    fetch_price: FetchPriceFlag = False,
    price_filter_id: PriceFilterIdFlag = None,
    price_region: PriceRegionFlag = None,
    price_resolution: PriceResolutionFlag = None,
    flat_price: FlatPriceFlag = None,
    carbon_file: CarbonFileFlag = None,
    carbon_intensity: CarbonIntensityFlag = None,
    integration: IntegrationFlag = None,
    gap_factor: GapFactorFlag = None,
    pue: PueFlag = None,
    as_json: AsJsonFlag = False,
    retry_failed: RetryFailedFlag = False,
    benchmark: BenchmarkFlag = None,
    work: WorkFlag = None,
    report: ReportFlag = None,
    jobs_per_commit: JobsPerCommitFlag = GroupLimits.max_jobs,
) -> None:
    """Analyse Slurm HDF5 profiles into energy, cost and CO2 figures."""
    given_work = _check_job_flags(report, benchmark, work)
    overrides = {
        "integration": integration.value if integration else None,
        "gap_factor": gap_factor,
        "pue": pue,
        "duckdb_path": db,
        "price_file": price_file,
        "fetch_price": fetch_price or None,
        "smard_filter_id": price_filter_id,
        "smard_region": price_region,
        "smard_resolution": price_resolution.value if price_resolution else None,
        "flat_price_eur_per_kwh": flat_price,
        "carbon_file": carbon_file,
        "carbon_intensity_g_per_kwh": carbon_intensity,
    }
    settings = settings_or_exit(overrides, FLAG_OF_SETTING)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("analysis_module.app.runner").setLevel(logging.ERROR)

    if rescan:
        _rescan(settings, retry_failed=retry_failed)
        return
    _analyse_batch(
        settings,
        default_factor_options(settings),
        source=source,
        from_s3=s3 or settings.minio_sync,
        retry_failed=retry_failed,
        as_json=as_json,
        benchmark=benchmark,
        work=given_work,
        report_dir=report,
        jobs_per_commit=jobs_per_commit,
    )


def _check_job_flags(
    report: Path | None, benchmark: str | None, work: str | None
) -> tuple[str, float] | None:
    """Exit 2 on an unusable --report folder, --benchmark name or --work; the work figure."""
    if report is not None and (problem := check_report_dir(report)):
        exit_on_configuration_error(f"--report: {problem}")
    if benchmark is not None and not BENCHMARK_NAME.fullmatch(benchmark):
        exit_on_configuration_error(
            f"--benchmark: {benchmark[:140]!r} is not a benchmark name "
            "(1-128 characters of A-Z a-z 0-9 . _ -)"
        )
    if work is None:
        return None
    try:
        return parse_work_spec(work)
    except WorkSpecError as exc:
        exit_on_configuration_error(f"--work: {exc}")


def _analyse_batch(
    settings: AnalysisSettings,
    factor_options,
    *,
    source: list[Path] | None,
    from_s3: bool,
    retry_failed: bool,
    as_json: bool,
    benchmark: str | None = None,
    work: tuple[str, float] | None = None,
    report_dir: Path | None = None,
    jobs_per_commit: int = GroupLimits.max_jobs,
) -> None:
    """Analyse the jobs, print the table (or JSON lines); exit 1 when any file failed."""
    try:
        jobs = group_jobs(_inputs(settings, source, from_s3))
        runner = _open_runner(settings, factor_options)
        if retry_failed:
            jobs = _failed_before(runner, jobs)
    except NothingToAnalyse as exc:
        _say(str(exc))
        raise typer.Exit(0 if from_s3 else 2) from None
    except (FileNotFoundError, ConfigurationError) as exc:
        exit_on_configuration_error(str(exc))
    except TransientError as exc:
        _say(f"error: {exc}")
        raise typer.Exit(2) from None
    try:
        outcomes = _run(
            runner,
            jobs,
            show_progress=err.is_terminal and not as_json,
            as_json=as_json,
            benchmark=benchmark,
            work=work,
            report_dir=report_dir,
            limits=GroupLimits(max_jobs=jobs_per_commit),
        )
    except TransientError as exc:  # the database went away: what was told is committed
        _say(f"error: {exc}; the jobs not told above were not stored: run again")
        raise typer.Exit(1) from None
    runner.close()
    if not as_json:
        _print_outcomes(settings, outcomes)
    if any(o.status != "ok" or _failed_files(o) for _, o in outcomes):
        raise typer.Exit(1)


def _failed_before(runner, jobs: list[JobGroup]) -> list[JobGroup]:
    """Jobs whose last analysis failed or left files out; a file an earlier version analysed
    as a job of its own and that failed brings its job along."""
    failed = runner.failed_sources()
    return [
        job
        for job in jobs
        if job.source in failed or any(item.source in failed for item in job.members)
    ]


def _failed_files(outcome: JobAnalysisResult) -> list:
    return [f for f in outcome.files if f.status != "ok"]


def _print_outcomes(settings: AnalysisSettings, outcomes) -> None:
    """The table on stdout (80 columns unless the terminal is wider), one closing line on stderr."""
    width = shutil.get_terminal_size((80, 24)).columns if sys.stdout.isatty() else 80
    rows = [(item.display, outcome.summary) for item, outcome in outcomes]
    sys.stdout.write("\n".join(outcome_lines(rows, width=width)) + "\n")
    sys.stdout.flush()
    failed = sum(o.status != "ok" for _, o in outcomes)
    n_files = sum(len(o.files) for _, o in outcomes)
    left_out = sum(len(_failed_files(o)) for _, o in outcomes if o.status == "ok")
    files = f"{n_files} files" + (f", {left_out} left out" if left_out else "")
    where = "PostgreSQL" if settings.use_postgres else str(settings.duckdb_path)
    scopes = sorted({o.summary.get("energy_scope") for _, o in outcomes} - {None})
    _say(
        f"{len(outcomes) - failed} analysed, {failed} failed ({files}; integration: "
        f"{settings.integration}, {_rule_origin(settings)}; energy_scope: "
        f"{', '.join(scopes) or '-'}); results in {where}"
    )


def _say(text: str) -> None:
    """One message on stderr as it is (no markup, no wrapping at the terminal's width)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _rule_origin(settings: AnalysisSettings) -> str:
    origin = settings.integration_chosen_by
    if origin == "INTEGRATION_RULE":
        return "chosen"
    return "from " + origin if origin.startswith("ENERGY_PLUGIN") else "the default"


def _open_runner(settings: AnalysisSettings, factor_options):
    """The runner, with an unwritable or locked results file reported as a setting's error."""
    if settings.use_postgres:
        apply_migrations(settings)
    try:
        return build_runner(settings, factor_options=factor_options)
    except (duckdb.Error, OSError) as exc:
        if settings.use_postgres:
            raise
        setting = "--db" if "duckdb_path" in settings.model_fields_set else "DUCKDB_PATH"
        reason = one_line(exc)
        raise ConfigurationError(
            f"{setting}: cannot open {settings.duckdb_path} for writing: {reason}"
        ) from None


def _inputs(settings: AnalysisSettings, sources: list[Path] | None, from_s3: bool):
    if from_s3:
        inputs = s3_inputs(settings)
        if all(is_csv(item.source) for item in inputs):
            where = object_source(settings.minio_bucket, settings.minio_prefix)
            raise NothingToAnalyse(f"nothing to analyse: no *.h5 object under {where}")
        return inputs
    paths = sources or [Path(p) for p in settings.analysis_source.split(",")]
    inputs = local_inputs(paths)
    if all(is_csv(item.source) for item in inputs):
        shown = ", ".join(str(p) for p in paths)
        raise NothingToAnalyse(f"nothing to analyse: no *.h5 file found in {shown}")
    return inputs


def _run(
    runner,
    jobs: list[JobGroup],
    *,
    show_progress: bool,
    as_json: bool,
    benchmark=None,
    work=None,
    report_dir: Path | None = None,
    limits: GroupLimits | None = None,
):
    """Each job analysed; its outcome told once its results are committed (group commit)."""
    outcomes: list[tuple[JobGroup, JobAnalysisResult]] = []
    told = iter(jobs)

    def tell(final: list[JobAnalysisResult]) -> None:
        for outcome in final:
            job = next(told)
            _say_failures(job, outcome)
            if report_dir is not None:
                write_job_report(runner.sink, outcome.source, report_dir, outcome.table_name)
            if as_json:
                sys.stdout.write(json.dumps(_json_record(outcome)) + "\n")
                sys.stdout.flush()
            outcomes.append((job, outcome))

    with (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=not show_progress,
            transient=True,
        ) as progress,
        CommitGroup(runner, limits) as group,
    ):
        task = progress.add_task("analysing", total=len(jobs))
        for job in jobs:
            progress.update(task, description=job.display)
            with job.job_input(benchmark, work) as job_input:
                tell(group.analyse(job_input))
            progress.advance(task)
        tell(group.close())
    return outcomes


def _say_failures(job: JobGroup, outcome: JobAnalysisResult) -> None:
    """`FAILED <file>: <reason>` per file left out; a job that failed for no file's fault is
    named itself."""
    shown = {item.source: item.display for item in (*job.members, *job.likwid)}
    failed = _failed_files(outcome)
    for item in failed:
        _say(f"FAILED {shown.get(item.source, item.name)}: {item.error}")
    if outcome.status != "ok" and not failed:
        _say(f"FAILED {job.display}: {outcome.error}")


def _json_record(outcome: JobAnalysisResult) -> dict:
    record = {k: _jsonable(v) for k, v in outcome.summary.items()}
    record["files"] = [
        {"name": f.name, "role": f.role, "status": f.status, "error": f.error}
        for f in outcome.files
    ]
    return record


def _rescan(settings: AnalysisSettings, *, retry_failed: bool = False) -> None:
    from analysis_module.app.ingest_setup import rescan

    try:
        report = rescan(settings, retry_failed=retry_failed)
    except ValueError as exc:
        exit_on_configuration_error(str(exc))
    except TransientError as exc:
        _say(f"rescan failed: {exc}")
        raise typer.Exit(1) from None
    where = object_source(settings.minio_bucket, settings.minio_prefix)
    _say(rescan_summary(report, where))


def run() -> None:
    """The command line; a usage error (unknown flag, a value of the wrong type) is one line."""
    try:
        code = app(standalone_mode=False)
    except UsageError as exc:
        exit_on_configuration_error(" ".join(exc.format_message().split()))
    except typer.Abort:
        _say("aborted")
        code = 130
    raise SystemExit(code or 0)


if __name__ == "__main__":
    run()
