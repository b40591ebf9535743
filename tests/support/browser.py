"""A real browser for tests: Debian's Chromium, headless, one process per page load.

`load_page` reads the rendered DOM and every console message Chromium logs (CSP violations,
failed loads, script errors all show up there), and takes a screenshot. No driver library:
Chromium's own `--dump-dom`, `--screenshot` and `--enable-logging` do what the tests need.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

CONSOLE_LINE = re.compile(r":INFO:CONSOLE[^\]]*\] (.*)")
TIMEOUT_S = 90


@dataclass(frozen=True)
class PageLoad:
    dom: str
    console: list[str]  # messages the page logged or caused
    screenshot: Path


def chromium() -> str:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is not installed: run scripts/ensure-chromium.sh (as root)")
    return binary


def _run(args: list[str], url: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        command = [
            chromium(),
            "--headless",
            "--no-sandbox",  # root in a container; the page is our own
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            *args,
            url,
        ]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )


def load_page(url: str, screenshot: Path, *, width: int = 900, height: int = 2400) -> PageLoad:
    dumped = _run(["--dump-dom"], url)
    if dumped.returncode != 0 or "<html" not in dumped.stdout:
        raise AssertionError(f"chromium could not load {url}: {dumped.stderr[-2000:]}")
    shot = _run([f"--screenshot={screenshot}", f"--window-size={width},{height}"], url)
    if shot.returncode != 0 or not screenshot.exists():
        raise AssertionError(f"chromium took no screenshot of {url}: {shot.stderr[-2000:]}")
    console = CONSOLE_LINE.findall(dumped.stderr) + CONSOLE_LINE.findall(shot.stderr)
    return PageLoad(dumped.stdout, console, screenshot)
