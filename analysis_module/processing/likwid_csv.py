"""likwid-perfctr CSV output (`likwid-perfctr -g GROUP -o run.csv ...`) -> figures of merit.

The file is a sequence of sections. `STRUCT,<name>,<n>` is followed by n `key,value` rows;
`TABLE,[Region <r>,]Group <i> <kind>,<GROUP>,<n>` is followed by a header row and n data rows.
`<kind>` is `Raw` (counters), `Metric` (derived metrics, one column per hardware thread) or
either with ` STAT` (statistics over threads: Sum, Min, Max, Avg). Units sit in the metric name
in brackets (`DP [MFLOP/s]`, `Runtime (RDTSC) [s]`, `Memory bandwidth [MBytes/s]`).

Per-thread rates add up over threads and every thread shares the run's wall time, so a group's
work is the sum over threads of rate x runtime. Only the derived-metric tables are used; the raw
counters are kept for callers that want them. Errors are one line and never repeat cell values.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field

MAX_BYTES = 16 * 1024 * 1024  # a real file of 1000 threads x 4 groups is well under 1 MiB
_NAME_SHOWN = 40

_TABLE_TITLE = re.compile(r"Group (?P<index>\d+) (?P<kind>Raw|Metric)(?P<stat> STAT)?\Z")
_FLOP_RATE = re.compile(r"(?P<precision>DP|SP) \[?MFLOP/s\]?\Z")
_RUNTIME = re.compile(r"Runtime \(RDTSC\) \[s\]\Z")
_MEM_BANDWIDTH = re.compile(r"Memory bandwidth \[MBytes/s\]\Z")
_MEM_VOLUME = re.compile(r"Memory data volume \[GBytes\]\Z")


class LikwidFormatError(ValueError):
    """The text is not likwid-perfctr CSV output that this parser can use; one-line reason."""

    def __init__(self, reason: str) -> None:
        self.reason = " ".join(reason.split())
        super().__init__(self.reason)


@dataclass(frozen=True)
class LikwidTable:
    """One `TABLE` section: the title (`Group 1 Metric`), group name, header and data rows."""

    title: str
    group: str
    region: str | None
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class GroupFigures:
    """What one performance group measured over all hardware threads (None: not measured)."""

    group: str
    region: str | None
    threads: int | None  # None when only thread statistics (a STAT table) were written
    runtime_s: float | None
    gflops_dp: float | None = None
    gflops_sp: float | None = None
    gflop_dp: float | None = None
    gflop_sp: float | None = None
    mem_bandwidth_gbytes_per_s: float | None = None
    mem_volume_gbytes: float | None = None


@dataclass(frozen=True)
class LikwidResult:
    info: dict[str, str]
    tables: tuple[LikwidTable, ...]
    groups: tuple[GroupFigures, ...] = field(default=())


def _shown(name: str) -> str:
    name = " ".join(name.split())
    return name if len(name) <= _NAME_SHOWN else name[: _NAME_SHOWN - 1] + "…"


def _cells(line: str) -> tuple[str, ...]:
    row = next(csv.reader([line]), [])
    while row and row[-1].strip() == "":  # LIKWID pads rows with trailing commas
        row.pop()
    return tuple(cell.strip() for cell in row)


def _count(marker: tuple[str, ...], line_no: int) -> int:
    try:
        count = int(marker[-1])
    except ValueError:
        raise LikwidFormatError(
            f"line {line_no}: a {marker[0]} marker must end with its row count"
        ) from None
    if count < 0:
        raise LikwidFormatError(f"line {line_no}: negative row count in a {marker[0]} marker")
    return count


def parse_sections(text: str) -> tuple[dict[str, str], tuple[LikwidTable, ...]]:
    """Split the file into its STRUCT key/value rows and its TABLE sections."""
    lines = text.splitlines()
    info: dict[str, str] = {}
    tables: list[LikwidTable] = []
    i = 0
    while i < len(lines):
        marker = _cells(lines[i])
        i += 1
        if not marker:
            continue
        if marker[0] == "STRUCT" and len(marker) >= 3:
            count = _count(marker, i)
            for line in lines[i : i + count]:
                cells = _cells(line)
                if cells:
                    info[cells[0].rstrip(":")] = ",".join(cells[1:])
            i += count
        elif marker[0] == "TABLE" and len(marker) >= 4:
            count = _count(marker, i)
            names = marker[1:-1]
            if i + 1 + count > len(lines):
                raise LikwidFormatError(
                    f"table {_shown(','.join(names))!r} declares {count} rows, the file ends first"
                )
            region = next((n[len("Region ") :] for n in names if n.startswith("Region ")), None)
            title = next((n for n in names if _TABLE_TITLE.match(n)), names[0])
            header = _cells(lines[i])
            rows = tuple(_cells(line) for line in lines[i + 1 : i + 1 + count])
            tables.append(LikwidTable(title, names[-1], region, header, rows))
            i += 1 + count
    return info, tuple(tables)


def _number(cell: str, metric: str, column: str) -> float | None:
    if cell in ("", "-", "nil", "nan", "NaN"):
        return None
    try:
        value = float(cell)
    except ValueError:
        raise LikwidFormatError(
            f"metric {_shown(metric)!r}, column {_shown(column)!r}: not a number"
        ) from None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return value


def _is_stat(table: LikwidTable) -> bool:
    return table.title.endswith(" STAT")


def _value_columns(table: LikwidTable, statistic: str) -> list[int]:
    """Per-thread columns (`HWThread 3`, ...), or in a STAT table the named statistic's column."""
    if _is_stat(table):
        columns = [i for i, name in enumerate(table.header) if i and name == statistic]
    else:
        columns = [
            i
            for i, name in enumerate(table.header)
            if i and name not in ("Counter", "Sum", "Min", "Max", "Avg")
        ]
    if not columns:
        raise LikwidFormatError(f"table {_shown(table.title)!r} has no value column")
    return columns


def _metric_values(table: LikwidTable, statistic: str = "Sum") -> dict[str, list[float | None]]:
    columns = _value_columns(table, statistic)
    values: dict[str, list[float | None]] = {}
    for row in table.rows:
        if not row:
            continue
        name = row[0].removesuffix(" STAT") if _is_stat(table) else row[0]
        values[name] = [
            _number(row[c], name, table.header[c]) if c < len(row) else None for c in columns
        ]
    return values


def _total(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _find(values: dict[str, list[float | None]], pattern: re.Pattern) -> list[float | None]:
    return next((v for name, v in values.items() if pattern.match(name)), [])


def _runtimes(table: LikwidTable, n_columns: int) -> list[float | None]:
    """Each value column's runtime; a STAT table gives the longest thread's for the Sum column."""
    found = _find(
        _metric_values(table, "Max") if _is_stat(table) else _metric_values(table), _RUNTIME
    )
    if _is_stat(table) or len(found) != n_columns:
        longest = max((r for r in found if r is not None), default=None)
        return [longest] * n_columns
    return found


def _group_figures(table: LikwidTable) -> GroupFigures:
    values = _metric_values(table)
    n_columns = len(_value_columns(table, "Sum"))
    runtimes = _runtimes(table, n_columns)
    runtime = max((r for r in runtimes if r is not None), default=None)
    figures: dict[str, float | None] = {}
    for name, rates in values.items():
        match = _FLOP_RATE.match(name)
        if not match:
            continue
        precision = match["precision"].lower()
        rate_mflops = _total(rates)
        figures[f"gflops_{precision}"] = None if rate_mflops is None else rate_mflops / 1000
        if runtime is not None and rate_mflops is not None:
            # work per thread = its rate x its own runtime (the same wall time on each thread)
            per_thread = [
                (r or 0.0) * (t if t is not None else runtime)
                for r, t in zip(rates, runtimes, strict=True)
            ]
            figures[f"gflop_{precision}"] = sum(per_thread) / 1000
    bandwidth = _total(_find(values, _MEM_BANDWIDTH))
    return GroupFigures(
        group=table.group,
        region=table.region,
        threads=None if _is_stat(table) else n_columns,
        runtime_s=runtime,
        mem_bandwidth_gbytes_per_s=None if bandwidth is None else bandwidth / 1000,
        mem_volume_gbytes=_total(_find(values, _MEM_VOLUME)),
        **figures,
    )


def parse_likwid_csv(data: bytes | str) -> LikwidResult:
    """Parse a likwid-perfctr CSV file; one `GroupFigures` per group (and region) measured."""
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise LikwidFormatError(f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise LikwidFormatError("not UTF-8 text") from None
    elif len(data) > MAX_BYTES:
        raise LikwidFormatError(f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
    if "\x00" in data:
        raise LikwidFormatError("binary data (NUL bytes), not a CSV file")
    try:
        info, tables = parse_sections(data)
    except csv.Error:
        raise LikwidFormatError("malformed CSV quoting") from None
    metric_tables = [t for t in tables if _TABLE_TITLE.match(t.title)]
    if not metric_tables:
        raise LikwidFormatError("not likwid-perfctr CSV output: no 'TABLE,Group <n> ...' section")
    per_thread = [t for t in metric_tables if _TABLE_TITLE.match(t.title)["kind"] == "Metric"]
    chosen: dict[tuple[str | None, str], LikwidTable] = {}
    for table in per_thread:
        key = (table.region, _TABLE_TITLE.match(table.title)["index"])
        # per-thread columns are exact; a STAT table only stands in when they are missing
        if key not in chosen or _is_stat(chosen[key]):
            chosen[key] = table
    if not chosen:
        raise LikwidFormatError("no derived-metric table ('Group <n> Metric'): nothing to report")
    groups = tuple(_group_figures(table) for table in chosen.values())
    return LikwidResult(info=info, tables=tables, groups=groups)
