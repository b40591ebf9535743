"""Statements the sink hands to PostgreSQL whole, and local DuckDB tables made from Arrow schemas.

DuckDB's postgres extension runs a filtered DELETE or lookup as a scan of the whole table
(hundreds of milliseconds on 50 million samples); PostgreSQL answers the same statement from
its index in a millisecond. So the sink sends such statements through `postgres_execute` and
`postgres_query`, inside the transaction DuckDB holds. Those take SQL text only: values become
literals here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa

RESULTS_SCHEMA = "results"  # the PostgreSQL schema of the tables the sink writes
LOOKUP_CHUNK = 500  # sources or table names per IN list

DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
}


def column_ddl(schema: pa.Schema, primary_key: str | None = None) -> str:
    columns = []
    for field in schema:
        ddl = f'"{field.name}" {DUCKDB_TYPES[field.type]}'
        if field.name == primary_key:
            ddl += " PRIMARY KEY"
        elif not field.nullable:
            ddl += " NOT NULL"
        columns.append(ddl)
    return ", ".join(columns)


def literal(value: object) -> str:
    """A PostgreSQL literal of `value`, the same under either `standard_conforming_strings`
    (an escape string: backslashes doubled, quotes doubled)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "'NaN'::double precision"
        if math.isinf(value):
            return f"'{'' if value > 0 else '-'}Infinity'::double precision"
        return repr(value)
    if isinstance(value, datetime):
        return literal(value.isoformat()) + "::timestamptz"
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text with a NUL character cannot be stored in PostgreSQL")
        return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
    raise TypeError(f"no PostgreSQL literal for {type(value).__name__}")


def bind(sql: str, params: Sequence[object]) -> str:
    """`sql` with each `?` replaced by the literal of the next parameter (our statements
    have no `?` of their own)."""
    parts = sql.split("?")
    if len(parts) != len(params) + 1:
        raise ValueError(f"{len(parts) - 1} placeholders for {len(params)} parameters")
    out = [parts[0]]
    for value, rest in zip(params, parts[1:], strict=True):
        out += [literal(value), rest]
    return "".join(out)


def insert_values(table: str, rows: pa.Table) -> str:
    """`INSERT INTO table VALUES (...), ...` of every row, positionally (the tables have their
    Arrow schema's column order): for the few rows of a summary, a breakdown or a file list,
    one statement in the server's script instead of a COPY of its own."""
    columns = [column.to_pylist() for column in rows.columns]
    tuples = (
        "(" + ", ".join(literal(column[i]) for column in columns) + ")"
        for i in range(rows.num_rows)
    )
    return f"INSERT INTO {table} VALUES " + ", ".join(tuples)  # noqa: S608 (literals)
