"""The batch CLI's flags: their types and help texts, and which flag sets which setting.

`duckdb_analysis.main` takes them as parameters; `FLAG_OF_SETTING` lets a settings error name
the flag the user typed.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class Rule(StrEnum):
    trapezoid = "trapezoid"
    left = "left"
    right = "right"


class Resolution(StrEnum):
    quarterhour = "quarterhour"
    hour = "hour"


# Which flag sets which setting, so an error names what the user typed.
FLAG_OF_SETTING = {
    "integration": "--integration",
    "gap_factor": "--gap-factor",
    "pue": "--pue",
    "duckdb_path": "--db",
    "price_file": "--price-file",
    "fetch_price": "--fetch-price",
    "smard_filter_id": "--price-filter-id",
    "smard_region": "--price-region",
    "smard_resolution": "--price-resolution",
    "flat_price_eur_per_kwh": "--flat-price",
    "carbon_file": "--carbon-file",
    "carbon_intensity_g_per_kwh": "--carbon-intensity",
}


SourceFlag = Annotated[
    list[Path] | None,
    typer.Option(
        "--source",
        "-s",
        help="Profile file or folder (repeatable; folders are searched for *.h5 and for "
        "LIKWID *.csv beside them).",
    ),
]
DbFlag = Annotated[
    Path | None, typer.Option(help="Local DuckDB file (ignored when POSTGRES_HOST is set).")
]
S3Flag = Annotated[
    bool,
    typer.Option(
        "--s3", help="Analyse the .h5 (and LIKWID .csv) objects of MINIO_BUCKET/MINIO_PREFIX."
    ),
]
RescanFlag = Annotated[
    bool,
    typer.Option(
        "--rescan",
        help="Enqueue bucket objects without a successful analysis for the workers, then exit.",
    ),
]
PriceFileFlag = Annotated[
    Path | None, typer.Option(help="CSV/Parquet with start,price_eur_per_mwh.")
]
FetchPriceFlag = Annotated[
    bool, typer.Option("--fetch-price", help="Day-ahead prices from SMARD (SMARD_BASE_URL).")
]
PriceFilterIdFlag = Annotated[
    int | None, typer.Option(help="SMARD filter (default SMARD_FILTER_ID: 4169, day-ahead price).")
]
PriceRegionFlag = Annotated[
    str | None, typer.Option(help="SMARD region (default SMARD_REGION: DE-LU).")
]
PriceResolutionFlag = Annotated[
    Resolution | None,
    typer.Option(help="SMARD resolution (default SMARD_RESOLUTION: quarterhour)."),
]
FlatPriceFlag = Annotated[float | None, typer.Option(help="Flat tariff in EUR/kWh.")]
CarbonFileFlag = Annotated[
    Path | None, typer.Option(help="CSV/Parquet with start,carbon_g_per_kwh.")
]
CarbonIntensityFlag = Annotated[
    float | None, typer.Option(help="Constant carbon intensity in g/kWh.")
]
IntegrationFlag = Annotated[
    Rule | None,
    typer.Option(
        help="Integration rule (default: follows ENERGY_PLUGIN, else trapezoid; "
        "see docs/energy-metrics.md)."
    ),
]
GapFactorFlag = Annotated[
    float | None, typer.Option(help="Intervals longer than this x the median interval are gaps.")
]
PueFlag = Annotated[
    float | None, typer.Option(help="Power usage effectiveness, for facility energy.")
]
AsJsonFlag = Annotated[bool, typer.Option("--json", help="One JSON object per job on stdout.")]
RetryFailedFlag = Annotated[
    bool,
    typer.Option(
        "--retry-failed",
        help="Only the jobs whose last analysis failed or left files out (with --rescan: "
        "queue them again).",
    ),
]
BenchmarkFlag = Annotated[
    str | None,
    typer.Option(help="Benchmark name recorded with every job (1-128 of A-Z a-z 0-9 . _ -)."),
]
WorkFlag = Annotated[
    str | None,
    typer.Option(
        help="Figure of merit of every job, UNIT=VALUE (GFLOP/s=1234, GB/s=180; "
        "docs/energy-metrics.md section 8)."
    ),
]
BENCHMARK_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")
JobsPerCommitFlag = Annotated[
    int,
    typer.Option(
        "--jobs-per-commit",
        min=1,
        help="Small jobs written together in one transaction (results appear a group at a "
        "time, at the latest 5 s after a group's first job; 1: each job on its own).",
    ),
]
ReportFlag = Annotated[
    Path | None,
    typer.Option(
        "--report",
        help="Also write each job's report page (self-contained HTML) into this folder.",
    ),
]
