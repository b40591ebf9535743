"""A job's published figures read back through our API (`GET /jobs`, `GET /jobs/{id}`),
for the end-of-job summary of a user whose job runs where the results database is not
reachable. Authenticates with the user's access token; nothing is written."""

from __future__ import annotations

from typing import Any

import httpx

from analysis_module.pipeline_core.errors import ConfigurationError, TransientError
from analysis_module.pipeline_core.text import one_line

TIMEOUT_S = 20.0


class ResultsApi:
    def __init__(self, base_url: str, token: str, *, transport: Any = None):
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT_S,
            transport=transport,
        )

    def close(self) -> None:
        self.client.close()

    def _call(self, method: str, path: str, **kwargs) -> Any:
        try:
            answer = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise TransientError(
                f"the API at {self.client.base_url} did not answer: {one_line(exc, max_chars=200)}"
            ) from exc
        if answer.status_code == 401:
            raise ConfigurationError(
                "BENCHSUITE_TOKEN: the API refused the access token (access tokens last "
                "15 minutes; log in again)"
            )
        if answer.status_code >= 400:
            raise TransientError(
                f"the API answered {answer.status_code} to {method} {path}: "
                f"{one_line(answer.text, max_chars=200)}"
            )
        return answer.json()

    def job(self, job_id: str, folder: str | None) -> tuple[dict | None, int, str | None]:
        """(the job's figures, how many other jobs share the id, its report link); the
        figures are None while the job is not analysed."""
        page = self._call("GET", "/jobs", params={"job_id": job_id, "limit": 50})
        jobs = [j for j in page.get("jobs", []) if folder is None or _in_folder(j, folder)]
        analysed = [j for j in jobs if j.get("status") in ("ok", "failed")]
        if not analysed:
            return None, 0, None
        chosen = analysed[0]
        detail = self._call("GET", f"/jobs/{chosen['id']}")
        figures = {**(detail.get("summary") or {}), **_facts(detail)}
        link = None
        if detail.get("status") == "ok":
            link = self._call("POST", f"/jobs/{chosen['id']}/report-link").get("url")
        return figures, len(analysed) - 1, link


def _in_folder(job: dict, folder: str) -> bool:
    return str(job.get("source", "")).startswith(folder.rstrip("/") + "/")


def _facts(detail: dict) -> dict:
    names = ("status", "error", "job_id", "benchmark", "n_files", "n_files_failed")
    return {name: detail.get(name) for name in names}
