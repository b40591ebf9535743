"""Analyses one profile file end to end: read, compute, write, record the outcome.

Shared by the batch CLI and the queue worker. A bad file never raises: it becomes a failed
`job_summary` row with a one-line reason. Only infrastructure failures raise (TransientError),
so a worker can retry them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from analysis_module.connectors.duckdb_sink import DuckDBSink
from analysis_module.connectors.errors import TransientError
from analysis_module.connectors.factor_sources import FactorSources, SmardClient
from analysis_module.pipeline_core.analyse import AnalysisOptions, analyse_profile
from analysis_module.pipeline_core.naming import table_name_for
from analysis_module.pipeline_core.records import breakdown_table, summary_table
from analysis_module.pipeline_core.sink import ResultSink
from analysis_module.processing import ProfileError, ReadLimits, open_profile
from analysis_module.settings import AnalysisSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobOutcome:
    source: str
    status: str  # "ok" | "failed"
    error: str | None = None
    table_name: str | None = None
    job_id: str | None = None
    summary: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FactorOptions:
    """Price and carbon settings; CLI flags override the environment's."""

    flat_price_eur_per_kwh: float | None = None
    price_file: Path | None = None
    fetch_price: bool = False
    price_filter_id: int = 4169
    price_region: str = "DE-LU"
    price_resolution: str = "quarterhour"
    carbon_file: Path | None = None
    carbon_g_per_kwh: float | None = None


def build_factors(settings: AnalysisSettings, options: FactorOptions) -> FactorSources:
    smard = None
    if options.fetch_price:
        smard = SmardClient(
            base_url=settings.smard_base_url,
            cache_dir=settings.smard_cache_dir,
            filter_id=options.price_filter_id,
            region=options.price_region,
            resolution=options.price_resolution,
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


def build_sink(settings: AnalysisSettings, duckdb_path: Path | None = None) -> ResultSink:
    """PostgreSQL (through DuckDB) when POSTGRES_HOST is set, else a local DuckDB file."""
    if settings.use_postgres:
        from analysis_module.migrate import upgrade_database

        dsn = settings.postgres_dsn()
        try:
            upgrade_database(dsn)
        except Exception as exc:  # psycopg/sqlalchemy errors: the server is not there yet
            raise TransientError(f"PostgreSQL unreachable: {' '.join(str(exc).split())}") from exc
        return DuckDBSink.postgres(dsn, memory_limit=settings.duckdb_memory_limit)
    return DuckDBSink.local(
        duckdb_path or settings.duckdb_path, memory_limit=settings.duckdb_memory_limit
    )


class Runner:
    def __init__(
        self,
        sink: ResultSink,
        factors: FactorSources,
        options: AnalysisOptions,
        read_limits: ReadLimits | None = None,
    ):
        self.sink = sink
        self.factors = factors
        self.options = options
        self.read_limits = read_limits or ReadLimits()

    def analyse_file(
        self, path: Path, *, source: str, owner: str | None = None, etag: str | None = None
    ) -> JobOutcome:
        common = {"source": source, "owner": owner, "etag": etag, "integration": self.options.rule}
        try:
            profile = open_profile(path, self.read_limits)
        except (ProfileError, OSError) as exc:
            return self._failed(common, None, _reason(exc))
        with profile:
            table_name = table_name_for(source, self.sink.owner_of_table)
            writer = self.sink.open_job(source, table_name)
            try:
                result = analyse_profile(
                    profile,
                    options=self.options,
                    factors=self.factors,
                    emit=writer.append_timeseries,
                )
            except TransientError:
                writer.abort()
                raise
            except (ProfileError, OSError) as exc:
                writer.abort()
                return self._failed(common, profile.job_id, _reason(exc))
            except Exception as exc:  # a defect: record it visibly instead of losing the file
                writer.abort()
                log.exception("analysis of %s failed unexpectedly", source)
                return self._failed(common, profile.job_id, f"internal error: {_reason(exc)}")
            summary = summary_table(
                **common,
                status="ok",
                job_id=result.job_id,
                table_name=table_name,
                metrics=result.summary,
            )
            writer.finish(summary, breakdown_table(source, result.breakdown))
        return JobOutcome(source, "ok", None, table_name, result.job_id, summary.to_pylist()[0])

    def _failed(self, common: dict, job_id: str | None, reason: str) -> JobOutcome:
        summary = summary_table(**common, status="failed", job_id=job_id, error=reason)
        self.sink.record_failure(summary)
        log.warning("analysis of %s failed: %s", common["source"], reason)
        return JobOutcome(common["source"], "failed", reason, None, job_id, summary.to_pylist()[0])

    def mark_removed(self, source: str) -> None:
        self.sink.mark_removed(source)

    def close(self) -> None:
        self.sink.close()


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:1000]


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
    limits = ReadLimits(
        max_decoded_bytes=settings.profile_max_decoded_bytes,
        max_seconds=settings.profile_max_seconds,
        max_objects=settings.profile_max_objects,
        max_series_rows=settings.profile_max_series_rows,
    )
    factors = build_factors(settings, factor_options or default_factor_options(settings))
    return Runner(build_sink(settings, duckdb_path), factors, options, limits)
