"""One block of text for a finished Slurm job: energy, cost, CO2, power, coverage, the report.

    .venv/bin/python analysis_module/job_end.py 5                    # the local results
    .venv/bin/python analysis_module/job_end.py 5 --api https://bench.example.org/api

For Slurm's epilog or MailProg (a site, reading the results database: DuckDB file, or
PostgreSQL when POSTGRES_HOST is set) and for a user's dependent job (`--api`, with the
user's access token in BENCHSUITE_TOKEN; the block then ends with a link to the job's report
page that opens without a token). The job's files are uploaded and analysed after it ends, so
`--wait S` polls until its analysis is there. Exit status: 0 with the block, 3 when the job is
not (yet) analysed, 2 for a usage or configuration error, 1 when the API cannot be reached.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from analysis_module.pipeline_core.errors import ConfigurationError as PipelineConfigurationError
from analysis_module.pipeline_core.errors import TransientError
from analysis_module.startup import (
    ConfigurationError,
    OneLineArgumentParser,
    exit_on_configuration_error,
    settings_or_exit,
)
from job_report.wording import (
    appliance_phrase,
    format_co2,
    format_cost,
    format_duration,
    format_energy,
    format_power,
)

NOT_ANALYSED_EXIT = 3
POLL_S = 5.0


def block(summary: dict[str, Any], *, others: int = 0, report_url: str | None = None) -> str:
    """The lines a user reads at the end of a job (definitions: docs/energy-metrics.md)."""
    job = summary.get("job_id") or "?"
    benchmark = f" ({summary['benchmark']})" if summary.get("benchmark") else ""
    lines = [f"Slurm job {job}{benchmark}: {summary.get('status')}"]
    if summary.get("status") == "failed":
        lines.append(f"  error     {summary.get('error') or 'no reason recorded'}")
        return "\n".join(lines)
    energy = summary.get("energy_j")
    phrase = appliance_phrase(summary.get("appliance"), summary.get("appliance_duration_s"))
    rows = [
        ("energy", format_energy(energy) + ("" if phrase == "-" else f", {phrase}")),
        ("cost", format_cost(summary.get("cost_eur")) + _note(summary, "cost")),
        ("CO2", format_co2(summary.get("co2_g")) + _note(summary, "co2")),
        (
            "power",
            f"{format_power(summary.get('avg_power_w'))} average, "
            f"{format_power(summary.get('peak_power_w'))} peak",
        ),
        (
            "time",
            f"{format_duration(summary.get('time_to_solution_s'))} on "
            f"{_count(summary.get('n_nodes'), 'node')}, {_count(summary.get('n_steps'), 'step')}",
        ),
        ("coverage", _coverage(summary)),
    ]
    if report_url:
        rows.append(("report", report_url))
    lines += [f"  {name:<9} {text}" for name, text in rows]
    if others:
        lines.append(f"  ({others} more job(s) with this id in other folders; --folder picks one)")
    return "\n".join(lines)


def _note(summary: dict[str, Any], figure: str) -> str:
    value = summary.get("cost_eur" if figure == "cost" else "co2_g")
    note = summary.get(f"{figure}_note")
    return f" ({note})" if value is None and note else ""


def _count(value: Any, noun: str) -> str:
    return f"{value} {noun}" + ("" if value == 1 else "s") if value is not None else f"? {noun}s"


def _coverage(summary: dict[str, Any]) -> str:
    coverage = summary.get("coverage")
    if coverage is None:
        return "-"
    text = f"{coverage:.1%} of node-time sampled"
    failed = summary.get("n_files_failed") or 0
    if failed:
        text += f"; {failed} of {summary.get('n_files')} files left out"
    return text


def _database_lookup(args: argparse.Namespace, job_id: str) -> Callable[[], tuple]:
    settings = settings_or_exit({"duckdb_path": args.db}, {"duckdb_path": "--db"})
    if not settings.use_postgres and not settings.duckdb_path.exists():
        setting = "--db" if args.db else "DUCKDB_PATH"
        exit_on_configuration_error(f"{setting}: no results file at {settings.duckdb_path}")
    return _local_lookup(settings, job_id, args.folder)


def _local_lookup(settings, job_id: str, folder: str | None) -> Callable[[], tuple]:
    import duckdb

    from analysis_module.connectors.duckdb_sink import DuckDBSink
    from analysis_module.connectors.results_reader import jobs_with_slurm_id, open_local_results

    def lookup() -> tuple[dict | None, int, str | None]:
        try:
            if settings.use_postgres:
                sink = DuckDBSink.postgres(settings.postgres_dsn())
            else:
                sink = open_local_results(settings.duckdb_path)
        except duckdb.IOException:  # a writer holds the file right now
            return None, 0, None
        try:
            jobs = jobs_with_slurm_id(sink, job_id)
        finally:
            sink.close()
        if folder is not None:
            jobs = [j for j in jobs if j["source"].startswith(folder.rstrip("/") + "/")]
        return (jobs[0] if jobs else None), max(len(jobs) - 1, 0), None

    return lookup


def _api_lookup(base_url: str, job_id: str, folder: str | None) -> Callable[[], tuple]:
    import os

    from analysis_module.connectors.results_api import ResultsApi

    token = os.environ.get("BENCHSUITE_TOKEN", "").strip()
    if not token:
        exit_on_configuration_error(
            "BENCHSUITE_TOKEN: set it to your access token (POST /auth/password) to use --api"
        )

    def lookup() -> tuple[dict | None, int, str | None]:
        api = ResultsApi(base_url, token)
        try:
            return api.job(job_id, folder)
        finally:
            api.close()

    return lookup


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineArgumentParser(
        prog="job_end.py", description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    parser.add_argument("job_id", help="the Slurm job id")
    parser.add_argument("--folder", help="the job's folder (local path or s3://bucket/prefix)")
    parser.add_argument("--db", help="local DuckDB results file (default $DUCKDB_PATH)")
    parser.add_argument(
        "--api", metavar="URL", help="read the job through the API (token: $BENCHSUITE_TOKEN)"
    )
    parser.add_argument("--wait", type=float, default=0.0, metavar="S", help="poll up to S s")
    args = parser.parse_args(argv)
    if not args.job_id.isascii() or not args.job_id.isdigit():
        parser.error(f"job_id {args.job_id[:40]!r} is not a Slurm job id (digits)")
    if args.wait < 0 or args.wait > 86400:
        parser.error("--wait must be between 0 and 86400 seconds")
    if args.api is not None and not args.api.startswith(("http://", "https://")):
        parser.error(f"--api: {args.api[:80]!r} is not an http(s) URL")
    if args.api is not None and args.db is not None:
        parser.error("--api and --db: give one of them")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    job_id = str(int(args.job_id))
    if args.api is not None:
        lookup = _api_lookup(args.api, job_id, args.folder)
    else:
        lookup = _database_lookup(args, job_id)
    deadline = time.monotonic() + args.wait
    while True:
        try:
            summary, others, url = lookup()
        except (ConfigurationError, PipelineConfigurationError) as exc:
            exit_on_configuration_error(str(exc))
        except TransientError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 1
        if summary is not None:
            sys.stdout.write(block(summary, others=others, report_url=url) + "\n")
            return 0
        if time.monotonic() >= deadline:
            sys.stderr.write(f"Slurm job {job_id}: not analysed (yet)\n")
            return NOT_ANALYSED_EXIT
        time.sleep(min(POLL_S, max(deadline - time.monotonic(), 0.1)))


if __name__ == "__main__":
    raise SystemExit(main())
