"""Batch analysis of Slurm HDF5 profiles: `python analysis_module/duckdb_analysis.py --help`.

Embedded defaults: profiles from local files or folders, results into ./analysis.duckdb. With
POSTGRES_HOST set, results go to PostgreSQL instead; with `--s3` (or MINIO_SYNC=1) profiles come
from the bucket; `--rescan` enqueues the bucket's unanalysed objects for the workers.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from analysis_module.cli_sources import ProfileInput, local_inputs, s3_inputs
from analysis_module.connectors.errors import TransientError
from analysis_module.runner import JobOutcome, build_runner, default_factor_options
from analysis_module.settings import AnalysisSettings

app = typer.Typer(add_completion=False, help=__doc__, rich_markup_mode=None)
err = Console(stderr=True)


class Rule(StrEnum):
    trapezoid = "trapezoid"
    left = "left"
    right = "right"


def _jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _outcome_table(outcomes: list[tuple[ProfileInput, JobOutcome]]) -> Table:
    table = Table(title="Analysis results")
    for name, justify in (
        ("profile", "left"),
        ("status", "left"),
        ("energy J", "right"),
        ("time s", "right"),
        ("avg W", "right"),
        ("cost EUR", "right"),
        ("CO2 g", "right"),
        ("table / reason", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold")

    def num(value, digits):
        return "-" if value is None else f"{value:,.{digits}f}"

    for item, outcome in outcomes:
        s = outcome.summary
        ok = outcome.status == "ok"
        table.add_row(
            item.display,
            "[green]ok[/]" if ok else "[red]failed[/]",
            num(s.get("energy_j"), 1),
            num(s.get("time_to_solution_s"), 0),
            num(s.get("avg_power_w"), 1),
            num(s.get("cost_eur"), 6),
            num(s.get("co2_g"), 3),
            outcome.table_name if ok else (outcome.error or ""),
        )
    return table


@app.command()
def main(
    source: Annotated[
        list[Path] | None,
        typer.Option(
            "--source",
            "-s",
            help="Profile file or folder (repeatable; folders are searched for *.h5).",
        ),
    ] = None,
    db: Annotated[
        Path | None, typer.Option(help="Local DuckDB file (ignored when POSTGRES_HOST is set).")
    ] = None,
    s3: Annotated[
        bool, typer.Option("--s3", help="Analyse the .h5 objects of MINIO_BUCKET/MINIO_PREFIX.")
    ] = False,
    rescan: Annotated[
        bool,
        typer.Option(
            "--rescan",
            help="Enqueue bucket objects without a successful analysis for the workers, then exit.",
        ),
    ] = False,
    price_file: Annotated[
        Path | None, typer.Option(help="CSV/Parquet with start,price_eur_per_mwh.")
    ] = None,
    fetch_price: Annotated[
        bool, typer.Option("--fetch-price", help="Day-ahead prices from SMARD (SMARD_BASE_URL).")
    ] = False,
    price_filter_id: Annotated[
        int, typer.Option(help="SMARD filter (4169: day-ahead price).")
    ] = 4169,
    price_region: Annotated[str, typer.Option(help="SMARD region.")] = "DE-LU",
    price_resolution: Annotated[
        str, typer.Option(help="SMARD resolution: quarterhour or hour.")
    ] = "quarterhour",
    flat_price: Annotated[float | None, typer.Option(help="Flat tariff in EUR/kWh.")] = None,
    carbon_file: Annotated[
        Path | None, typer.Option(help="CSV/Parquet with start,carbon_g_per_kwh.")
    ] = None,
    carbon_intensity: Annotated[
        float | None, typer.Option(help="Constant carbon intensity in g/kWh.")
    ] = None,
    integration: Annotated[
        Rule | None, typer.Option(help="Integration rule (default trapezoid).")
    ] = None,
    gap_factor: Annotated[
        float | None,
        typer.Option(help="Intervals longer than this x the median interval are gaps."),
    ] = None,
    pue: Annotated[
        float | None, typer.Option(help="Power usage effectiveness, for facility energy.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per source on stdout.")
    ] = False,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="Only the sources whose last analysis failed (with --rescan: queue them again).",
        ),
    ] = False,
) -> None:
    """Analyse Slurm HDF5 profiles into energy, cost and CO2 figures."""
    overrides = {
        k: v
        for k, v in {
            "integration": integration.value if integration else None,
            "gap_factor": gap_factor,
            "pue": pue,
        }.items()
        if v is not None
    }
    try:
        settings = AnalysisSettings().model_copy(update=overrides)
    except ValueError as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(2) from exc
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("analysis_module.runner").setLevel(logging.ERROR)

    if rescan:
        _rescan(settings, retry_failed=retry_failed)
        return
    # Flags given on the command line override the environment's factor settings.
    flags = {
        "flat_price_eur_per_kwh": flat_price,
        "price_file": price_file,
        "fetch_price": fetch_price or None,
        "carbon_file": carbon_file,
        "carbon_g_per_kwh": carbon_intensity,
    }
    factor_options = dataclasses.replace(
        default_factor_options(settings),
        price_filter_id=price_filter_id,
        price_region=price_region,
        price_resolution=price_resolution,
        **{name: value for name, value in flags.items() if value is not None},
    )
    try:
        inputs = _inputs(settings, source, s3 or settings.minio_sync)
        runner = build_runner(settings, factor_options=factor_options, duckdb_path=db)
        if retry_failed:
            failed_before = runner.failed_sources()
            inputs = [item for item in inputs if item.source in failed_before]
    except (FileNotFoundError, ValueError, TransientError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    outcomes = _run(runner, inputs, show_progress=err.is_terminal and not as_json, as_json=as_json)
    runner.close()
    failed = sum(o.status != "ok" for _, o in outcomes)
    if not as_json:
        out = Console()
        if not out.is_terminal:
            out = Console(width=160)
        out.print(_outcome_table(outcomes))
        where = "PostgreSQL" if settings.use_postgres else str(db or settings.duckdb_path)
        err.print(
            f"{len(outcomes) - failed} analysed, {failed} failed "
            f"(integration: {settings.integration}); results in {where}"
        )
    if failed:
        raise typer.Exit(1)


def _inputs(settings: AnalysisSettings, sources: list[Path] | None, from_s3: bool):
    if from_s3:
        return s3_inputs(settings)
    return local_inputs(sources or [Path(p) for p in settings.analysis_source.split(",")])


def _run(runner, inputs, *, show_progress: bool, as_json: bool):
    outcomes: list[tuple[ProfileInput, JobOutcome]] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not show_progress,
        transient=True,
    ) as progress:
        task = progress.add_task("analysing", total=len(inputs))
        for item in inputs:
            progress.update(task, description=item.display)
            with item.local_file() as path:
                outcome = runner.analyse_file(
                    path, source=item.source, owner=item.owner, etag=item.etag
                )
            if outcome.status != "ok":
                err.print(f"[red]FAILED[/] {item.display}: {outcome.error}")
            if as_json:
                record = {k: _jsonable(v) for k, v in outcome.summary.items()}
                sys.stdout.write(json.dumps(record) + "\n")
                sys.stdout.flush()
            outcomes.append((item, outcome))
            progress.advance(task)
    return outcomes


def _rescan(settings: AnalysisSettings, *, retry_failed: bool = False) -> None:
    from analysis_module.ingest.rescan import rescan

    try:
        report = rescan(settings, retry_failed=retry_failed)
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    except TransientError as exc:
        err.print(f"[red]rescan failed:[/] {exc}")
        raise typer.Exit(1) from exc
    err.print(f"rescan: {report}")


def run() -> None:
    app()


if __name__ == "__main__":
    run()
