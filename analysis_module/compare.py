"""Compare the runs of a benchmark from the analysis' results.

    .venv/bin/python -m analysis_module.compare [--db FILE] [--benchmark NAME] [--csv]

Reads job_summary from the local DuckDB results file (`--db`, default DUCKDB_PATH) or, with
POSTGRES_HOST set, from PostgreSQL; prints each benchmark's analysed runs side by side, oldest
first, with `*` on the best figure of each column (lowest energy, time, EDP and EUR/GFLOP;
highest GFLOP/s and GFLOP/W). `--csv` prints every figure in full instead. A configuration
mistake is one line and exit 2; no runs to show is one line and exit 1.
"""

from __future__ import annotations

import csv
import math
import re
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import duckdb

from analysis_module.connectors.duckdb_sink import DuckDBSink
from analysis_module.pipeline_core.errors import TransientError
from analysis_module.pipeline_core.text import one_line
from analysis_module.pipeline_core.units import JOULES_PER_KWH
from analysis_module.settings import AnalysisSettings
from analysis_module.startup import (
    ConfigurationError,
    OneLineArgumentParser,
    exit_on_configuration_error,
    settings_or_exit,
)

NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")  # used with fullmatch, as the API checks names
NO_RUNS_EXIT = 1
READ_ERROR_EXIT = 2
COLUMNS = (
    "benchmark",
    "owner",
    "source",
    "job_id",
    "start_time",
    "n_nodes",
    "energy_j",
    "time_to_solution_s",
    "edp_js",
    "gflops",
    "gflops_per_w",
    "eur_per_gflop",
    "energy_per_gflop_j",
)
# Figures that get a best mark: column -> +1 when the highest is best, -1 when the lowest.
BEST = {
    "energy_j": -1,
    "time_to_solution_s": -1,
    "edp_js": -1,
    "gflops": 1,
    "gflops_per_w": 1,
    "eur_per_gflop": -1,
}
# (heading, width, column) of the table after the run's name; two spaces between columns.
# A figure is at most 7 characters (`short_number`), then the best mark or a space.
TABLE = (
    ("nodes", 6, "n_nodes"),
    ("kWh", 8, "energy_j"),
    ("time s", 8, "time_to_solution_s"),
    ("EDP J*s", 8, "edp_js"),
    ("GFLOP/s", 8, "gflops"),
    ("GFLOP/W", 8, "gflops_per_w"),
    ("EUR/GFLOP", 10, "eur_per_gflop"),
)
RUN_WIDTH = 80 - sum(width + 2 for _, width, _ in TABLE)
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m analysis_module.compare",
        description="Compare the runs of a benchmark: energy, time, EDP and work per joule.",
    )
    parser.add_argument("--db", type=Path, help="local DuckDB results file (DUCKDB_PATH)")
    parser.add_argument("--benchmark", help="only this benchmark (default: every one)")
    parser.add_argument("--owner", help="only runs of this owner (namespace)")
    parser.add_argument("--csv", action="store_true", help="print CSV instead of the table")
    return parser


def open_results(settings: AnalysisSettings, *, db_flag: bool) -> DuckDBSink:
    """The results store; a results file that isn't there is refused, not created."""
    if settings.use_postgres:
        return DuckDBSink.postgres(settings.postgres_dsn())
    setting = "--db" if db_flag else "DUCKDB_PATH"
    path = settings.duckdb_path
    if not path.is_file():
        raise ConfigurationError(f"{setting}: no results file at {path}")
    try:
        return DuckDBSink.local(path)
    except (duckdb.Error, OSError) as exc:
        raise ConfigurationError(f"{setting}: cannot open {path}: {one_line(exc)}") from None


def read_runs(sink: DuckDBSink, benchmark: str | None, owner: str | None) -> list[dict]:
    """Analysed runs (status ok, a benchmark named) by benchmark and owner, oldest first."""
    where = ["status = 'ok'", "benchmark IS NOT NULL"]
    params: list[str] = []
    for column, value in (("benchmark", benchmark), ("owner", owner)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    order = "benchmark, owner NULLS FIRST, start_time NULLS LAST, source"
    # Only this module's constant column names and conditions; values are bound parameters.
    sql = (
        f"SELECT {', '.join(COLUMNS)} FROM {sink.table('job_summary')} "  # noqa: S608
        f"WHERE {' AND '.join(where)} ORDER BY {order}"
    )
    cursor = sink.con.execute(sql, params)
    return [dict(zip(COLUMNS, row, strict=True)) for row in cursor.fetchall()]


def _finite(value) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def best_values(runs: Sequence[dict]) -> dict[str, float]:
    """Per marked figure, its best value over `runs` (figures no run has are left out)."""
    best = {}
    for column, sign in BEST.items():
        values = [v for v in (_finite(run[column]) for run in runs) if v is not None]
        if values:
            best[column] = max(values) if sign > 0 else min(values)
    return best


def by_benchmark(runs: Sequence[dict]) -> dict[tuple[str, str | None], list[dict]]:
    """Runs compared with each other: one benchmark of one owner."""
    groups: dict[tuple[str, str | None], list[dict]] = {}
    for run in runs:
        groups.setdefault((run["benchmark"], run["owner"]), []).append(run)
    return groups


def short_number(value: float | None) -> str:
    """About three significant digits in at most 7 characters (for values from 0 to 1e99):
    below 0.01 and from a million on in exponent form (`2.8e-04`)."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if not 0.01 <= abs(value) < 1e6:
        return f"{value:.1e}"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:,.{digits}f}"


def _cell(run: dict, column: str, best: dict[str, float]) -> str:
    value = _finite(run[column])
    if column == "n_nodes":
        return ("-" if value is None else str(int(value))) + " "
    shown = value / JOULES_PER_KWH if column == "energy_j" and value is not None else value
    text = short_number(shown)
    marked = value is not None and best.get(column) == value
    return text + ("*" if marked else " ")


def run_name(run: dict) -> str:
    """The Slurm job id, else the last part of the source; cut to the column."""
    name = run["job_id"] or run["source"].rstrip("/").rsplit("/", 1)[-1]
    return name if len(name) <= RUN_WIDTH else name[: RUN_WIDTH - 1] + "~"


def table_lines(benchmark: str, owner: str | None, runs: Sequence[dict]) -> list[str]:
    """One benchmark's runs side by side, at most 80 characters a line."""
    best = best_values(runs)

    def line(name: str, cells: Sequence[str]) -> str:
        parts = [name.ljust(RUN_WIDTH)]
        parts += [cell.rjust(width) for (_, width, _), cell in zip(TABLE, cells, strict=True)]
        return "  ".join(parts).rstrip()

    plural = "run" if len(runs) == 1 else "runs"
    whose = f" of {owner}" if owner else ""
    lines = textwrap.wrap(f"{benchmark}{whose}: {len(runs)} {plural}, * marks the best", 80)
    lines.append("")
    lines.append(line("run", [heading + " " for heading, _, _ in TABLE]))
    for run in runs:
        lines.append(line(run_name(run), [_cell(run, column, best) for _, _, column in TABLE]))
    return lines


def _csv_cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value.isoformat() if hasattr(value, "isoformat") else value


def write_csv(runs: Sequence[dict], out) -> None:
    """Every figure in full, plus `best`: the figures this run is best at, `;`-separated."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*COLUMNS, "energy_kwh", "best"])
    for group in by_benchmark(runs).values():
        best = best_values(group)
        for run in group:
            energy = _finite(run["energy_j"])
            kwh = energy / JOULES_PER_KWH if energy is not None else None
            marks = [c for c in BEST if c in best and _finite(run[c]) == best[c]]
            writer.writerow([*(_csv_cell(run[c]) for c in COLUMNS), kwh, ";".join(marks)])


def _arguments(argv: Sequence[str] | None):
    args = _parser().parse_args(argv)
    if args.benchmark is not None and not NAME.fullmatch(args.benchmark):
        exit_on_configuration_error(
            f"--benchmark: {args.benchmark!r} is not a benchmark name (1-128 of A-Z a-z 0-9 . _ -)"
        )
    return args


def _fail(message: str) -> None:
    """The results could not be read: one line, exit 2."""
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(READ_ERROR_EXIT)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    settings = settings_or_exit({"duckdb_path": args.db}, {"duckdb_path": "--db"})
    where = "PostgreSQL" if settings.use_postgres else str(settings.duckdb_path)
    try:
        sink = open_results(settings, db_flag=args.db is not None)
        try:
            runs = read_runs(sink, args.benchmark, args.owner)
        finally:
            sink.close()
    except ConfigurationError as exc:
        exit_on_configuration_error(str(exc))
    except (TransientError, duckdb.Error) as exc:
        _fail(f"cannot read results from {where}: {one_line(exc)}")
    if not runs:
        what = f"benchmark {args.benchmark}" if args.benchmark else "any benchmark"
        sys.stderr.write(f"no analysed runs of {what} in {where}\n")
        return NO_RUNS_EXIT
    if args.csv:
        write_csv(runs, sys.stdout)
        return 0
    groups = by_benchmark(runs).items()
    blocks = [table_lines(name, owner, group) for (name, owner), group in groups]
    sys.stdout.write("\n\n".join("\n".join(block) for block in blocks) + "\n")
    return 0


def run() -> None:
    raise SystemExit(main())


if __name__ == "__main__":
    run()
