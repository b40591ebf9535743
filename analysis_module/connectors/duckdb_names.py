"""Which source holds each table name of a local DuckDB file, kept in memory.

Naming a job asks who holds `job_<id>`. In a DuckDB file that is a scan of `job_summary` (2 ms
a job at 1,000 jobs, growing with every job stored), the largest fixed cost of a small job. One
process holds a DuckDB file, so the answer can be read once and kept: the sink tells this map
every change it makes to `job_summary`, as the open transaction sees it, and forgets it all on
a rollback (the next question reads it again). PostgreSQL, written by many workers, is asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


class TableNames:
    """table name -> source of the `job_summary` rows that name a table."""

    def __init__(self, load: Callable[[], Iterable[tuple[str, str]]]):
        self._load = load
        self._by_name: dict[str, str] | None = None
        self._by_source: dict[str, str] = {}

    def holder(self, table_name: str) -> str | None:
        if self._by_name is None:
            self._by_name, self._by_source = {}, {}
            for name, source in self._load():
                self._by_name[name] = source
                self._by_source[source] = name
        return self._by_name.get(table_name)

    def replaced(self, sources: Iterable[str], rows: Iterable[tuple[str | None, str]]) -> None:
        """The summary rows of `sources` deleted, then `rows` ((table_name, source)) inserted."""
        if self._by_name is None:
            return  # read when next asked, with these changes in it
        for source in sources:
            name = self._by_source.pop(source, None)
            if name is not None and self._by_name.get(name) == source:
                del self._by_name[name]
        for name, source in rows:
            if name is not None:
                self._by_name[name] = source
                self._by_source[source] = name

    def forget(self) -> None:
        """After a rollback: what the transaction changed is undone; read it all again."""
        self._by_name = None
        self._by_source = {}
