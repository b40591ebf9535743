"""The batch CLI's `--report DIR`: each analysed job's report page as a file of its own.

The page is the one `GET /jobs/{id}/report` serves (`job_report`), built from the rows the
sink has just committed, so the file shows exactly what was published.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from analysis_module.connectors.results_reader import job_report
from analysis_module.pipeline_core.naming import base_table_name, source_stem
from job_report import render_report


def check_report_dir(folder: Path) -> str | None:
    """Why `folder` cannot take report files (created when missing), or None."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        return f"cannot write report files to {folder}: {exc.strerror or exc}"
    return None


def write_job_report(sink, source: str, folder: Path, table_name: str | None) -> Path | None:
    """`<folder>/<job table name>.html` (e.g. `job_5.html`), written whole or not at all."""
    report = job_report(sink, source, footer=f"Source: {source}")
    if report is None:
        return None
    target = folder / f"{table_name or base_table_name(source_stem(source))}.html"
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(render_report(report), encoding="utf-8")
    os.replace(partial, target)
    return target
