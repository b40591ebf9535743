"""Analyses one job end to end: read, power pass, factors, compute, write, record the outcome.

Shared by the batch CLI and the queue worker. A bad file never raises: it becomes a failed
`job_summary` row with a one-line reason and a failure kind (`file`, `config` or `internal`).
Only infrastructure failures raise (TransientError), so a worker can retry them. Every step of
a file (read, compute, summary, write) runs inside one guarded region whose every exit aborts
the DuckDB transaction; after an unexpected error the runner replaces its database connection,
so one file's failure never touches the next file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from analysis_module.app.job_assembly import (
    FileInput,
    FileOutcome,
    JobFiles,
    JobInput,
    one_line,
)
from analysis_module.connectors.duckdb_errors import is_connection_failure
from analysis_module.connectors.duckdb_sink import DuckDBSink
from analysis_module.connectors.factor_sources import FactorSources, SmardClient
from analysis_module.pipeline_core.analyse import (
    AnalysisOptions,
    ResolvedFactors,
    compute_job,
)
from analysis_module.pipeline_core.errors import ConfigurationError, TransientError
from analysis_module.pipeline_core.naming import table_name_for
from analysis_module.pipeline_core.power import POWER_SCOPE_BY_PLUGIN
from analysis_module.pipeline_core.power_pass import power_pass
from analysis_module.pipeline_core.records import breakdown_table, summary_table
from analysis_module.pipeline_core.sink import ResultSink
from analysis_module.processing import MemberReadError, ProfileError, ReadLimits
from analysis_module.settings import AnalysisSettings

log = logging.getLogger(__name__)

__all__ = [
    "FileInput",
    "FileOutcome",
    "JobAnalysisResult",
    "JobInput",
    "Runner",
    "build_runner",
]

# JobAnalysisResult.failure_kind: who is to blame (the event pipeline retries all but the
# file's).
FILE = "file"
CONFIG = "config"
INTERNAL = "internal"


@dataclass(frozen=True)
class JobAnalysisResult:
    """What `Runner.analyse_job` returns: the job's status, its `job_summary` row and a
    `FileOutcome` per file."""

    source: str
    status: str  # "ok" | "failed"
    error: str | None = None
    table_name: str | None = None
    job_id: str | None = None
    summary: dict = field(default_factory=dict)
    failure_kind: str | None = None  # FILE | CONFIG | INTERNAL when failed
    files: tuple[FileOutcome, ...] = ()


@dataclass(frozen=True)
class FactorOptions:
    """Price and carbon settings; CLI flags override the environment's."""

    flat_price_eur_per_kwh: float | None = None
    price_file: Path | None = None
    fetch_price: bool = False  # from SMARD, as SMARD_FILTER_ID, SMARD_REGION, SMARD_RESOLUTION say
    carbon_file: Path | None = None
    carbon_g_per_kwh: float | None = None


def build_factors(settings: AnalysisSettings, options: FactorOptions) -> FactorSources:
    smard = None
    if options.fetch_price:
        smard = SmardClient(
            base_url=settings.smard_base_url,
            cache_dir=settings.smard_cache_dir,
            filter_id=settings.smard_filter_id,
            region=settings.smard_region,
            resolution=settings.smard_resolution,
        )
    return FactorSources(
        flat_price_eur_per_kwh=options.flat_price_eur_per_kwh,
        price_file=options.price_file,
        smard=smard,
        carbon_file=options.carbon_file,
        carbon_g_per_kwh=options.carbon_g_per_kwh,
    )


def default_factor_options(settings: AnalysisSettings) -> FactorOptions:
    return FactorOptions(
        flat_price_eur_per_kwh=settings.flat_price_eur_per_kwh,
        price_file=settings.price_file,
        fetch_price=settings.fetch_price,
        carbon_file=settings.carbon_file,
        carbon_g_per_kwh=settings.carbon_intensity_g_per_kwh,
    )


def resolve_factors(sources: FactorSources, window: tuple[int, int] | None) -> ResolvedFactors:
    """Prices and carbon intensity for the job's window, asked before anything is computed or
    written: a SMARD fetch happens here (a failed one becomes an unknown price, logged)."""
    if window is None:
        return ResolvedFactors()
    return ResolvedFactors(price=sources.price(*window), carbon=sources.carbon(*window))


def build_sink(settings: AnalysisSettings, duckdb_path: Path | None = None) -> ResultSink:
    """PostgreSQL (through DuckDB) when POSTGRES_HOST is set, else a local DuckDB file.

    The PostgreSQL tables come from the migrations, which the process applied when it booted.
    """
    if settings.use_postgres:
        return DuckDBSink.postgres(
            settings.postgres_dsn(), memory_limit=settings.duckdb_memory_limit
        )
    return DuckDBSink.local(
        duckdb_path or settings.duckdb_path, memory_limit=settings.duckdb_memory_limit
    )


class AnalysisCancelled(BaseException):
    """The caller gave up on this analysis (its time budget ran out); nothing is recorded."""


class Runner:
    def __init__(
        self,
        sink: ResultSink,
        factors: FactorSources,
        options: AnalysisOptions,
        *,
        sink_factory: Callable[[], ResultSink] | None = None,
        read_limits: ReadLimits | None = None,
    ):
        self.sink = sink
        self.factors = factors
        self.options = options
        self.sink_factory = sink_factory
        self.read_limits = read_limits or ReadLimits()
        # True after an error this runner did not expect: a pool must not hand it out again.
        self.saw_unexpected_error = False
        self._cancelled = threading.Event()
        self.group = None  # the open CommitGroup (commit_group.py), which holds small jobs

    def cancel(self) -> None:
        """From another thread: stop the running analysis at its next step, record nothing,
        close the connection. The runner is not usable afterwards."""
        self._cancelled.set()

    def _check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise AnalysisCancelled("the analysis was cancelled")

    def analyse_file(
        self,
        path: Path,
        *,
        source: str,
        owner: str | None = None,
        etag: str | None = None,
        label: str | None = None,
    ) -> JobAnalysisResult:
        """One file as a job of its own, keyed by `source`. `label`: how reasons name the file
        instead of `path` (a worker's temporary copy)."""
        item = FileInput(path, source, etag, label)
        return self.analyse_job(JobInput(source, (item,), owner))

    def analyse_job(self, job: JobInput) -> JobAnalysisResult:
        """The files of one job as one analysis; files that cannot be read are left out."""
        files = JobFiles(job, self.read_limits)
        problem = self._configuration_problem()
        if problem is not None:
            files.fail_all(problem, CONFIG)
            return self._failed(files, problem, CONFIG)
        try:
            try:
                files.open_all()
            except ConfigurationError as exc:
                return self._failed(files, _reason(exc, files.hide), CONFIG)
            try:
                return self._analyse_files(files)
            finally:
                files.close()
        except AnalysisCancelled:
            self.close()
            raise

    def record_job_failure(self, job: JobInput, reason: str, kind: str) -> JobAnalysisResult:
        """The job failed as a whole before any of its files was read (the ingest worker gave
        up on it): its `job_summary` row is failed with `reason`, every file with `reason` and
        `kind`. The files are not opened; `job.likwid` must be empty."""
        return self._failed(JobFiles(job, self.read_limits), reason, kind)

    def _analyse_files(self, files: JobFiles) -> JobAnalysisResult:
        while files.opened:
            outcome = self._analyse_profile(files)
            if outcome is not None:
                return outcome
        return self._failed(files, files.failure(), FILE)

    def _common(self, files: JobFiles) -> dict:
        job = files.job
        return {
            "source": job.source,
            "owner": job.owner,
            "etag": job.files[0].etag if len(job.files) == 1 else None,
            "integration": self.options.rule,
            "benchmark": job.benchmark,
            "benchmark_set_by": job.benchmark_set_by if job.benchmark else None,
            **files.counts(),
        }

    def _table_name(self, files: JobFiles) -> str:
        """`job_<stem>` of the job key; a table an earlier per-file analysis of one of the
        job's own files holds is free for the job."""
        members = {item.source for item in files.job.files}

        def owner_of(name: str) -> str | None:
            holder = (self.group or self.sink).owner_of_table(name)
            return None if holder in members else holder

        return table_name_for(files.job.source, owner_of)

    def _analyse_profile(self, files: JobFiles) -> JobAnalysisResult | None:
        """One attempt; None when a file failed while it was read and the others are left."""
        source, hide = files.job.source, files.hide
        writer = profile = None
        try:
            profile = files.profile()
            power = power_pass(profile, self.options)
            factors = resolve_factors(self.factors, power.window)
            table_name = self._table_name(files)
            writer = self._open_writer(files, table_name)

            def write_rows(rows) -> None:
                self._check_cancelled()
                writer.append_timeseries(rows)

            result = compute_job(
                profile, power, factors, options=self.options, write_rows=write_rows
            )
            summary = summary_table(
                **self._common(files),
                status="ok",
                job_id=result.job_id,
                error=files.note(),
                table_name=table_name,
                metrics=result.summary,
                work=files.work_columns(result.summary),
            )
            breakdown = breakdown_table(source, result.breakdown)
            self._check_cancelled()
            writer.finish(summary, breakdown, files.table())
        except TransientError:
            self._abort(writer)
            self.saw_unexpected_error = True  # its connection may be dead
            raise
        except (ProfileError, OSError) as exc:  # the file's content (OSError: a value overflows)
            self._abort(writer)
            reason = _reason(exc, hide)
            if isinstance(exc, MemberReadError) and len(files.job.files) > 1:
                files.drop_member(exc.index, reason)
                return None
            return self._failed(files, reason, FILE)
        except ConfigurationError as exc:
            self._abort(writer)
            return self._failed(files, _reason(exc, hide), CONFIG)
        except Exception as exc:  # a defect: record it visibly instead of losing the file
            self._abort(writer)
            self.saw_unexpected_error = True
            if is_connection_failure(exc):
                raise TransientError(f"database connection lost: {_reason(exc, hide)}") from exc
            log.exception("analysis of %s failed unexpectedly", source)
            self._renew_sink()
            return self._failed(files, f"internal error: {_reason(exc, hide)}", INTERNAL)
        except BaseException:  # cancelled, interrupted: abort and pass it on
            self._abort(writer)
            raise
        row = summary.to_pylist()[0]
        return JobAnalysisResult(
            source, "ok", None, table_name, result.job_id, row, files=files.outcomes()
        )

    def _open_writer(self, files: JobFiles, table_name: str):
        if self.group is not None:
            return self.group.open_job(files, table_name)
        return self.sink.open_job(files.job.source, table_name)

    def _configuration_problem(self) -> str | None:
        plugin = self.options.power_plugin
        if plugin and plugin.lower() not in POWER_SCOPE_BY_PLUGIN:
            known = ", ".join(sorted(POWER_SCOPE_BY_PLUGIN))
            return f"configuration error: ENERGY_PLUGIN {plugin!r} is not one of {known}"
        return None

    def _abort(self, writer) -> None:
        if writer is None:
            return
        try:
            writer.abort()
        except Exception:
            log.warning("could not abort the transaction of %s", writer.source, exc_info=True)
            self.saw_unexpected_error = True
            self._renew_sink()

    def _renew_sink(self) -> None:
        """A fresh database connection for the next file (the old one saw an error)."""
        if self.sink_factory is None:
            return
        old, self.sink = self.sink, self.sink_factory()
        try:
            old.close()
        except Exception:
            log.warning("closing a failed database connection failed", exc_info=True)

    def _failed(self, files: JobFiles, reason: str, kind: str) -> JobAnalysisResult:
        """The job failed as a whole; a file that was usable does not carry the blame, unless
        the job has that one file (its reason is the job's)."""
        if len(files.job.files) == 1 or kind != FILE:
            files.fail_all(reason, kind)
        common = self._common(files)
        summary = summary_table(**common, status="failed", job_id=files.job_id, error=reason)
        self.sink.record_failure(summary, files.table())
        log.warning("analysis of %s failed: %s", common["source"], reason)
        row = summary.to_pylist()[0]
        return JobAnalysisResult(
            common["source"], "failed", reason, None, files.job_id, row, kind, files.outcomes()
        )

    def failed_sources(self) -> set[str]:
        """Sources whose last analysis failed (the batch CLI's `--retry-failed`)."""
        return self.sink.failed_sources()

    def mark_removed(self, source: str) -> None:
        self.sink.mark_removed(source)

    def close(self) -> None:
        self.sink.close()


def _reason(exc: BaseException, hide: dict[str, str]) -> str:
    return one_line(exc, hide)


def read_limits(settings: AnalysisSettings) -> ReadLimits:
    """The PROFILE_MAX_* bounds of one file's read."""
    return ReadLimits(
        max_decoded_bytes=settings.profile_max_decoded_bytes,
        max_seconds=settings.profile_max_seconds,
        max_objects=settings.profile_max_objects,
        max_series_rows=settings.profile_max_series_rows,
        max_energy_table_bytes=settings.profile_max_energy_table_bytes,
        max_energy_bytes=settings.profile_max_energy_bytes,
    )


def build_runner(
    settings: AnalysisSettings,
    *,
    factor_options: FactorOptions | None = None,
    duckdb_path: Path | None = None,
) -> Runner:
    options = AnalysisOptions(
        rule=settings.integration,
        gap_factor=settings.gap_factor,
        power_ceiling_w=settings.power_ceiling_w,
        pue=settings.pue,
        power_plugin=settings.power_plugin,
        max_interval_s=settings.max_sample_interval_s,
    )
    limits = read_limits(settings)
    factors = build_factors(settings, factor_options or default_factor_options(settings))

    def sink_factory() -> ResultSink:
        return build_sink(settings, duckdb_path)

    return Runner(sink_factory(), factors, options, sink_factory=sink_factory, read_limits=limits)
