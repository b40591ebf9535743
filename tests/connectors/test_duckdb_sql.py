"""Values the PostgreSQL sink sends to the server as literals come back exactly as they were."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analysis_module.connectors.duckdb_postgres import attach_postgres
from analysis_module.connectors.duckdb_sql import bind, literal
from tests.support import postgres

HOSTILE = [
    "it's",
    "back\\slash\\'",
    "$$ dollar $$",
    "E'x'",
    "ünïcödé 🚀",
    "a;b--c /* d */",
    "\\'; DROP TABLE results.t; --",
    "?",
    "",
]


@pytest.fixture(scope="module")
def attached():
    db = postgres.create_database("bs_literals")
    with db.connect() as conn:
        conn.execute("CREATE SCHEMA results")
        conn.execute("CREATE TABLE results.t (a text, n bigint, x double precision)")
    con = attach_postgres(db.dsn, memory_limit="256MB", schema="results")
    yield con
    con.close()
    postgres.drop_database(db)


def test_hostile_text_round_trips_through_both_statement_kinds(attached):
    for text in HOSTILE:
        sql = bind("INSERT INTO results.t VALUES (?, ?, ?); INSERT INTO results.t VALUES (?, ?, ?)",
                   [text, 1, 0.5, text, 2, None])  # fmt: skip
        attached.execute("CALL postgres_execute('pg', ?)", [sql])
    query = bind(
        f"SELECT a, n FROM results.t WHERE a IN ({', '.join('?' * len(HOSTILE))}) ORDER BY n, a",
        HOSTILE,
    )
    rows = attached.execute("SELECT * FROM postgres_query('pg', ?)", [query]).fetchall()
    assert sorted(rows) == sorted([(text, n) for text in HOSTILE for n in (1, 2)])
    count = attached.execute(
        "SELECT * FROM postgres_query('pg', 'SELECT count(*) FROM results.t')"
    ).fetchone()[0]
    assert count == 2 * len(HOSTILE)  # no statement escaped its literal


def test_a_timestamp_keeps_its_instant(attached):
    moment = datetime(2026, 3, 29, 1, 30, 5, 250000, tzinfo=UTC)
    rows = attached.execute(
        "SELECT * FROM postgres_query('pg', ?)", [bind("SELECT ?::timestamptz AS t", [moment])]
    ).fetchall()
    assert rows[0][0] == moment


def test_a_summary_row_of_every_type_round_trips_as_values(attached):
    import math

    import pyarrow as pa

    from analysis_module.connectors.duckdb_sql import insert_values

    row = pa.table({
        "a": pa.array(["it's \\ ü"], pa.string()), "b": pa.array([True]),
        "n": pa.array([None], pa.int32()), "x": pa.array([float("nan")]),
        "y": pa.array([float("-inf")]), "z": pa.array([1.0 / 3.0]),
        "t": pa.array([datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
    })  # fmt: skip
    attached.execute(
        "CALL postgres_execute('pg', 'CREATE TABLE results.r (a text, b boolean, n integer, "
        "x double precision, y double precision, z double precision, t timestamptz)')"
    )
    attached.execute("CALL postgres_execute('pg', ?)", [insert_values("results.r", row)])
    got = attached.execute("SELECT * FROM postgres_query('pg', 'SELECT * FROM results.r')")
    a, b, n, x, y, z, t = got.fetchone()
    assert (a, b, n, y, z, t) == ("it's \\ ü", True, None, float("-inf"), 1.0 / 3.0,
                                  row.column("t")[0].as_py())  # fmt: skip
    assert math.isnan(x)


def test_values_without_a_literal_are_refused():
    with pytest.raises(ValueError, match="NUL"):
        literal("a\x00b")
    with pytest.raises(TypeError):
        literal(b"bytes")
    with pytest.raises(ValueError, match="2 placeholders for 1 parameters"):
        bind("SELECT ?, ?", [1])
