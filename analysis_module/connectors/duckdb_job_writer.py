"""One job's write, inside the transaction `DuckDBSink.open_job` opened (duckdb_sink.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from analysis_module.connectors.duckdb_errors import ConnectionLossIsTransient, is_name_clash
from analysis_module.pipeline_core.errors import TransientError
from analysis_module.pipeline_core.schema import JOB_TIMESERIES

if TYPE_CHECKING:
    from analysis_module.connectors.duckdb_sink import DuckDBSink

SAMPLE_COLUMNS = ", ".join(f'"{name}"' for name in JOB_TIMESERIES.names)


class DuckDBJobWriter:
    """Inside the transaction opened by `DuckDBSink.open_job`."""

    def __init__(self, sink: DuckDBSink, source: str, table_name: str):
        self.sink = sink
        self.source = source
        self.table_name = table_name

    def append_timeseries(self, rows: pa.Table) -> None:
        with ConnectionLossIsTransient("writing samples"):  # the name is checked at open_job
            relation = self.sink.con.from_arrow(rows).project(
                f"'{self.table_name}' AS table_name, {SAMPLE_COLUMNS}"
            )
            relation.insert_into(self.sink.table("job_samples"))

    def finish(self, summary: pa.Table, breakdown: pa.Table, files: pa.Table | None = None) -> None:
        sink = self.sink
        with ConnectionLossIsTransient("committing results"):
            try:
                sink._drop_member_rows(self.source, files, keep_table=self.table_name)
                old = sink._old_row(self.source)
                if old is not None and old[0] != self.table_name:
                    sink._drop_job(old[0])  # the job's results moved to a new name
                summary = sink._keep_owner_benchmark(summary, old)
                sink._replace_rows(self.source, summary, breakdown, files, publish=self.table_name)
                sink.con.execute("COMMIT")
            except duckdb.Error as exc:
                self.abort()
                if "table_name" in str(exc) and is_name_clash(exc):
                    # Another source claimed the same free name first; a retry picks a new one.
                    raise TransientError(
                        f"table name {self.table_name} was taken concurrently; retry"
                    ) from exc
                raise
            except BaseException:
                self.abort()
                raise

    def abort(self) -> None:
        self.sink.rollback()
