"""Our own ASGI apps as real HTTP servers on 127.0.0.1.

`AppProcess` runs `uvicorn module:app` in a child process (what production runs; it can be
killed with SIGKILL), `PythonProcess` runs any `python -m ...` entry point (the worker).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from .net import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]


class PythonProcess:
    """A child `python -m <module> args...` with its own environment and a captured log."""

    def __init__(self, args: list[str], env: Mapping[str, str]):
        self.args = args
        self.env = {**os.environ, **env}
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="proc-", suffix=".log", delete=False
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> PythonProcess:
        self.proc = subprocess.Popen(
            [sys.executable, *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as when a node dies: no clean-up runs."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def __enter__(self) -> PythonProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class AppProcess(PythonProcess):
    """`uvicorn <app>` on a free loopback port; `base_url` once it answers `health_path`."""

    def __init__(
        self,
        app: str,
        env: Mapping[str, str],
        *,
        health_path: str = "/healthz",
        workers: int = 1,
        port: int | None = None,
        extra_args: Sequence[str] = (),
    ):
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.health_path = health_path
        args = ["-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(self.port)]
        if workers > 1:
            args += ["--workers", str(workers)]
        super().__init__([*args, *extra_args], env)

    def start(self) -> AppProcess:
        super().start()
        try:
            wait_for_http(self.base_url + self.health_path, is_alive=self.alive)
        except Exception as exc:
            self.stop()
            raise RuntimeError(f"{self.args} did not start:\n{self.output()[-4000:]}") from exc
        return self
