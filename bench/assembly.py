"""Assembly benchmark: one job analysed from its node-step files against its merged file.

Run ``.venv/bin/python bench/assembly.py`` (``--help`` for options; results in docs/jobs.md).
The job: 64 nodes, ``batch`` on node 0 for the whole job and steps 0 and 1 on every node, 1 Hz
Energy and Tasks, written once as 129 node-step files and once as the merged file of the same
data (cached in ``--workdir``). Each measurement runs in a fresh child process (this script with
``--measure``) into a new local DuckDB file, timed with ``perf_counter`` after its imports; its
peak RSS is ``VmHWM``. ``open-only`` opens and closes every node-step file: the per-file
overhead the assembled run pays on top of the merged one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench._common import peak_rss_mb, run_json_child

VARIANTS = ("merged", "assembled", "open-only")
VERSION = 1  # bump when the written job changes for the same parameters


def write_job(workdir: Path, n_nodes: int, step_s: int, tasks: int) -> tuple[Path, Path]:
    """(merged file, folder of node-step files), written unless cached with these parameters."""
    from tests.support.job_split import synthetic_job

    folder = workdir / f"assembly_{n_nodes}x{step_s}s_{tasks}t"
    merged, parts = folder / "merged", folder / "parts"
    sidecar = folder / "params.json"
    wanted = {"version": VERSION, "n_nodes": n_nodes, "step_s": step_s, "tasks": tasks}
    if sidecar.exists() and json.loads(sidecar.read_text()) == wanted:
        return next(merged.glob("*.h5")), parts
    started = time.perf_counter()
    print(f"writing {folder.name} ...", end=" ", file=sys.stderr, flush=True)
    sidecar.unlink(missing_ok=True)
    job = synthetic_job("42", n_nodes=n_nodes, step_s=step_s, tasks_per_node=tasks)
    for old in (*merged.glob("*.h5"), *parts.glob("*.h5")):
        old.unlink()
    path = job.write_merged(merged)
    job.write_node_steps(parts)
    print(f"{time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    sidecar.write_text(json.dumps(wanted))
    return path, parts


def measure(variant: str, merged: Path, parts: Path) -> dict:
    """One analysis (or opening every part) in this process; prints nothing else."""
    from analysis_module.app.runner import FileInput, JobInput, build_runner
    from analysis_module.pipeline_core.job_files import job_source
    from analysis_module.processing import open_profile
    from analysis_module.settings import AnalysisSettings

    files = sorted(parts.glob("*.h5"))
    with tempfile.TemporaryDirectory(prefix="bench-assembly-") as tmp:
        runner = build_runner(AnalysisSettings(DUCKDB_PATH=Path(tmp) / "r.duckdb"))
        started = time.perf_counter()
        energy_j = None
        if variant == "merged":
            energy_j = runner.analyse_file(merged, source=str(merged)).summary["energy_j"]
        elif variant == "assembled":
            items = tuple(FileInput(p, str(p)) for p in files)
            outcome = runner.analyse_job(JobInput(job_source(str(files[0])), items))
            energy_j = outcome.summary["energy_j"]
        else:
            for path in files:
                open_profile(path).close()
        seconds = time.perf_counter() - started
        runner.close()
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "energy_j": energy_j}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "bench")
    parser.add_argument("--nodes", type=int, default=64)
    parser.add_argument("--step-seconds", type=int, default=1800)
    parser.add_argument("--tasks", type=int, default=4, help="tasks per node and step")
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant (best kept)")
    parser.add_argument("--measure", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--merged", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--parts", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.merged, args.parts)))
        return
    merged, parts = write_job(args.workdir, args.nodes, args.step_seconds, args.tasks)
    n_parts = len(list(parts.glob("*.h5")))
    print(
        f"{args.nodes} nodes x 3 steps (batch on node 0), {args.step_seconds} s per step, "
        f"{args.tasks} tasks per node: 1 merged file "
        f"({merged.stat().st_size / 1e6:.0f} MB) vs {n_parts} node-step files; "
        f"best of {args.repeat}"
    )
    print(f"{'variant':<10} {'seconds':>8} {'peak RSS MB':>12} {'energy J':>14}")
    best = {}
    for variant in VARIANTS:
        child = [sys.executable, str(Path(__file__).resolve()), "--measure", variant]
        child += ["--merged", str(merged), "--parts", str(parts)]
        runs = [run_json_child(child, timeout_s=1800) for _ in range(args.repeat)]
        failed = [r["error"] for r in runs if "error" in r]
        if failed:
            print(f"{variant:<10} error: {failed[0]}")
            continue
        best[variant] = min(runs, key=lambda r: r["seconds"])
        r = best[variant]
        energy = "-" if r["energy_j"] is None else f"{r['energy_j']:,.0f}"
        print(f"{variant:<10} {r['seconds']:>8.2f} {r['peak_rss_mb']:>12.0f} {energy:>14}")
    if len(best) == len(VARIANTS):
        budget = best["merged"]["seconds"] + best["open-only"]["seconds"]
        verdict = "within" if best["assembled"]["seconds"] <= budget else "over"
        print(f"assembled vs merged + per-file overhead ({budget:.2f} s): {verdict}")
    if {"merged", "assembled"} <= best.keys():
        same = best["merged"]["energy_j"] == best["assembled"]["energy_j"]
        print(f"same energy from both: {same}")


if __name__ == "__main__":
    main()
