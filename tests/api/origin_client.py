"""The HTTP requests of the origin project's command-line client (`benchwrap`: register,
login, refresh, sync), reproduced request for request so the tests can run its protocol
against our API on a signature-checking store. Written for these tests from the client's
observable behaviour; it uses `requests`, as the client does, so headers and bodies go out
the same way.

What the client does, in order:
- register: `POST /auth/register` with JSON `{"username", "password"}`; expects 201 and keeps
  `refresh` (the access token of the answer is used at once).
- refresh: `POST /auth/refresh?rid=<refresh token>` without a body; expects 200.
- login: `POST /auth/password?u=<name>&p=<password>` without a body; expects 200.
- sync, per file: `POST /storage/presign/upload?object_name=<relative path>` with the bearer
  token; then `PUT <url>` with the answer's `headers` merged FIRST and its own
  `Content-Type` (`mimetypes.guess_type(name)[0]` or `application/octet-stream`) and
  `Content-Length` on top, the file object as the body (`b""` for an empty file).
"""

from __future__ import annotations

import mimetypes
import os
from dataclasses import dataclass, field
from pathlib import Path

import requests

TIMEOUT = (10, 30)


@dataclass
class OriginClient:
    base_url: str
    refresh_token: str | None = None
    responses: list[requests.Response] = field(default_factory=list)

    def _keep(self, response: requests.Response, expected: int) -> dict:
        self.responses.append(response)
        assert response.status_code == expected, (response.request.url, response.text)
        data = response.json()
        self.refresh_token = data["refresh"]
        return data

    def register(self, username: str, password: str) -> str:
        answer = requests.post(
            f"{self.base_url}/auth/register",
            json={"username": username, "password": password},
            timeout=TIMEOUT,
        )
        return self._keep(answer, 201)["access"]

    def refresh(self) -> str:
        answer = requests.post(
            f"{self.base_url}/auth/refresh", params={"rid": self.refresh_token}, timeout=TIMEOUT
        )
        return self._keep(answer, 200)["access"]

    def login(self, username: str, password: str) -> str:
        answer = requests.post(
            f"{self.base_url}/auth/password",
            params={"u": username, "p": password},
            timeout=TIMEOUT,
        )
        return self._keep(answer, 200)["access"]

    def upload_one(self, access: str, path: Path, object_name: str) -> requests.Response:
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {access}"})
        presign = session.post(
            f"{self.base_url}/storage/presign/upload",
            params={"object_name": object_name},
            timeout=TIMEOUT,
        )
        self.responses.append(presign)
        assert presign.status_code == 200, presign.text
        body = presign.json()
        signed = {str(k): str(v) for k, v in body.get("headers", {}).items() if v is not None}
        content_type = mimetypes.guess_type(object_name)[0] or "application/octet-stream"
        size = os.path.getsize(path)
        if size == 0:
            headers = {**signed, "Content-Type": content_type, "Content-Length": "0"}
            return requests.put(body["url"], data=b"", headers=headers, timeout=TIMEOUT)
        headers = {**signed, "Content-Type": content_type, "Content-Length": str(size)}
        with path.open("rb") as data:
            return requests.put(body["url"], data=data, headers=headers, timeout=(10, None))

    def sync(self, access: str, root: Path) -> dict[str, int]:
        """Every file under `root` (object name: its relative path), with the PUT status."""
        statuses = {}
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "tokens"):
            name = str(path.relative_to(root)).replace(os.sep, "/").lstrip("/")[:256]
            statuses[name] = self.upload_one(access, path, name).status_code
        return statuses
