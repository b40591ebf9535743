"""Helpers for benchmarks: cached synthetic Slurm files, fresh-process measurements, cProfile.

A measurement runs in a child interpreter that prints one JSON object as its last stdout line,
so one variant's imports, caches and peak RSS never leak into another's numbers.
"""

from __future__ import annotations

import json
import pstats
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import h5py

REPO = Path(__file__).resolve().parents[1]
SYNTH_VERSION = 1  # bump when write_synthetic_job's output changes for the same parameters
START_EPOCH = 1_700_000_000


def synthetic_job(workdir: Path, n_nodes: int, tasks_per_node: int, duration_s: int) -> Path:
    """A merged one-step 1 Hz job (Energy + Tasks, 10-row chunks), generated unless cached.

    A sidecar ``.params.json`` is written after the file is complete, so a file cut short by an
    interrupted run is never reused, and a file made with other parameters is rewritten.
    """
    from tests.support.slurm_synth import write_synthetic_job

    params = {"n_nodes": n_nodes, "tasks_per_node": tasks_per_node, "duration_s": duration_s}
    params |= {"step": "0", "start_epoch": START_EPOCH}
    path = workdir / f"job_{n_nodes}x{tasks_per_node}x{duration_s}s.h5"
    sidecar = path.with_suffix(".params.json")
    wanted = {"version": SYNTH_VERSION, **params}
    if path.exists() and sidecar.exists() and json.loads(sidecar.read_text()) == wanted:
        return path
    workdir.mkdir(parents=True, exist_ok=True)
    sidecar.unlink(missing_ok=True)
    started = time.perf_counter()
    print(f"generating {path.name} ...", end=" ", file=sys.stderr, flush=True)
    write_synthetic_job(path, **params)
    took_s, size_mb = time.perf_counter() - started, path.stat().st_size / 1e6
    print(f"{took_s:.1f} s, {size_mb:.0f} MB", file=sys.stderr, flush=True)
    sidecar.write_text(json.dumps(wanted))
    return path


def series_datasets(h5: h5py.File) -> Iterator[tuple[str, h5py.Dataset]]:
    """(short name, dataset) of every series table, e.g. ``0/node003/Tasks/25``, one at a time.

    Only the names are collected up front: each open dataset keeps a chunk cache of its own
    (1 MB by default), so holding a thousand of them open would cost a GB of RSS.
    """
    names: list[str] = []
    h5.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    for name in names:
        yield name.replace("Steps/", "").replace("Nodes/", ""), h5[name]


def warm(path: Path) -> None:
    """Read the file once so every variant starts from the same (warm) page cache."""
    with open(path, "rb") as fh:
        while fh.read(16 << 20):
            pass


def peak_rss_mb() -> float:
    """This process's peak resident set so far: ``VmHWM`` of its own address space.

    Not ``ru_maxrss``: Linux carries the parent's peak over into a child's ru_maxrss across
    exec (subprocess uses vfork), so a 10 MB child of a 500 MB parent reports 500 MB.
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def run_json_child(cmd: list[str], timeout_s: float) -> dict:
    """Run ``cmd`` in the repository; its last stdout line as JSON, or ``{"error": reason}``.

    Adds ``process_s``: the child's whole wall time, interpreter start and imports included.
    """
    started = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout_s:.0f} s"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:200]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - started
    return result


def top_functions(prof: Path, limit: int) -> list[str]:
    """The ``limit`` functions with the most own time: own s, cumulative s, calls, file:line."""
    stats = pstats.Stats(str(prof)).stats  # (file, line, function) -> (cc, calls, own, cum, _)
    ranked = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:limit]
    lines = []
    for (file, line, func), (_, calls, own_s, cum_s, _) in ranked:
        where = file.replace(str(REPO) + "/", "").split("site-packages/")[-1]
        lines.append(f"{own_s:8.3f} {cum_s:8.3f} {calls:>9}  {where}:{line}({func})")
    return lines


def make_runner(kind: str, db_file: Path, pg_db: str | None):
    """A runner writing to the fresh DuckDB file ``db_file`` or PostgreSQL database ``pg_db``."""
    from analysis_module.app.runner import FactorOptions, build_runner
    from analysis_module.migrate import upgrade_database
    from analysis_module.settings import AnalysisSettings
    from tests.support.postgres import server

    if kind == "ours-pg":
        pg = server()
        target = {"POSTGRES_HOST": pg.host, "POSTGRES_PORT": pg.port, "POSTGRES_USER": pg.user}
        target |= {"POSTGRES_PASSWORD": pg.password, "POSTGRES_DB": pg_db}
        upgrade_database(AnalysisSettings(**target).postgres_dsn())
    else:
        target = {"POSTGRES_HOST": None, "DUCKDB_PATH": db_file}
    factors = FactorOptions(flat_price_eur_per_kwh=0.25, carbon_g_per_kwh=400.0)
    return build_runner(AnalysisSettings(**target), factor_options=factors)
