"""A job's report: one self-contained HTML page from the rows of the results tables.

Shared by the API (`GET /jobs/{id}/report`) and the batch CLI (`--report DIR`); it imports
neither of them, only the standard library.
"""

from job_report.page import JobReport, render_report, warnings_of

__all__ = ["JobReport", "render_report", "warnings_of"]
