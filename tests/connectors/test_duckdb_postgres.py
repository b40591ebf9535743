"""PostgreSQL attached through the pinned postgres extension, whole or one schema only."""

from __future__ import annotations

import duckdb
import pytest

from analysis_module.connectors.duckdb_postgres import attach_postgres
from tests.support import postgres


@pytest.fixture
def db():
    database = postgres.create_database("bs_attach")
    with database.connect() as con:
        con.execute("CREATE SCHEMA other")
        con.execute("CREATE TABLE other.elsewhere (x integer)")
        con.execute("CREATE TABLE public.here (x integer)")
        con.execute("INSERT INTO other.elsewhere VALUES (1)")
        con.execute("INSERT INTO public.here VALUES (2)")
    yield database
    postgres.drop_database(database)


def test_the_whole_database_is_attached_by_default(db):
    con = attach_postgres(db.dsn, memory_limit="256MB")
    assert con.execute("SELECT x FROM pg.other.elsewhere").fetchall() == [(1,)]
    assert con.execute("SELECT x FROM pg.public.here").fetchall() == [(2,)]
    con.close()


def test_one_schema_attached_leaves_the_others_out_of_the_catalog(db):
    con = attach_postgres(db.dsn, memory_limit="256MB", schema="public")
    assert con.execute("SELECT x FROM pg.public.here").fetchall() == [(2,)]
    with pytest.raises(duckdb.CatalogException):
        con.execute("SELECT x FROM pg.other.elsewhere")
    con.close()
