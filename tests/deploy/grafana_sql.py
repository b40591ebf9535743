"""Turns a panel's rawSql into the SQL Grafana's PostgreSQL data source would send.

Two stages, as in Grafana: the dashboard first interpolates template variables (`$name`,
`${name}`, `[[name]]`, `$__interval`); multi-value and include-all variables become a quoted,
comma-separated list, single-value ones are inserted as they are. The data source then expands
its macros (`$__timeFilter(col)`, `$__timeGroupAlias(col, 1h)`, `$__timeFrom()`, ...) with the
same output it produces for a non-TimescaleDB server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

MACRO = re.compile(r"\$(__\w+)\(([^)]*)\)")
VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]")
INTERVAL = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$")
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    def literal(self, moment: datetime) -> str:
        text = moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return f"'{text}'"


def interval_seconds(text: str) -> float:
    match = INTERVAL.match(text.strip().strip("'"))
    if not match:
        raise ValueError(f"not a Grafana interval: {text!r}")
    return float(match.group(1)) * UNIT_SECONDS[match.group(2)]


# A variable's "All" as a dashboard stores it; with the variable's custom `allValue`, Grafana
# inserts that text as it is, unquoted, in place of the list of every option.
ALL = "$__all"


def is_all(values: str | list[str]) -> bool:
    return values == ALL or values == [ALL]


def variable_text(variable: dict, values: str | list[str]) -> str:
    """What Grafana puts in place of `$name` for the chosen `values` of `variable`."""
    if is_all(values):
        if not variable.get("allValue"):
            raise ValueError(f"${variable['name']} has no allValue: pass its options, not All")
        return variable["allValue"]
    return sql_value(values, bool(variable.get("multi") or variable.get("includeAll")))


def sql_value(values: str | list[str], multi: bool) -> str:
    if not multi:
        return values if isinstance(values, str) else values[0]
    items = [values] if isinstance(values, str) else values
    return ",".join("'" + item.replace("'", "''") + "'" for item in items)


def interpolate_variables(sql: str, variables: dict[str, str], interval: str) -> str:
    """`variables` maps a name to its already formatted text (see `sql_value`)."""
    values = {
        **variables,
        "__interval": interval,
        "__interval_ms": str(round(interval_seconds(interval) * 1000)),
    }

    def replace(match: re.Match) -> str:
        name = next(group for group in match.groups() if group)
        return values.get(name, match.group(0))

    return VARIABLE.sub(replace, sql)


def expand_macros(sql: str, time_range: TimeRange) -> str:
    def group(args: list[str]) -> str:
        if len(args) < 2:
            raise ValueError("$__timeGroup needs a column and an interval")
        seconds = format(interval_seconds(args[1]), "g")
        return f"floor(extract(epoch from {args[0]})/{seconds})*{seconds}"

    def replace(match: re.Match) -> str:
        name = match.group(1)
        args = [arg.strip() for arg in match.group(2).split(",")]
        start, end = time_range.literal(time_range.start), time_range.literal(time_range.end)
        if name == "__time":
            return f'{args[0]} AS "time"'
        if name == "__timeEpoch":
            return f'extract(epoch from {args[0]}) as "time"'
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN {start} AND {end}"
        if name == "__timeFrom":
            return start
        if name == "__timeTo":
            return end
        if name == "__timeGroup":
            return group(args)
        if name == "__timeGroupAlias":
            return group(args) + ' AS "time"'
        if name == "__unixEpochFilter":
            lo, hi = int(time_range.start.timestamp()), int(time_range.end.timestamp())
            return f"{args[0]} >= {lo} AND {args[0]} <= {hi}"
        raise ValueError(f"macro ${name} is not one Grafana's PostgreSQL data source knows")

    return MACRO.sub(replace, sql)


def render(sql: str, *, variables: dict[str, str], interval: str, time_range: TimeRange) -> str:
    return expand_macros(interpolate_variables(sql, variables, interval), time_range)
