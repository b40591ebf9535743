"""Read-floor benchmark: our read and read -> metrics -> sink against the plain h5py read.

Run ``.venv/bin/python bench/read_floor.py`` (``--help``; results in README "Benchmarks" and
docs/bench-ingest.md). Writes (or reuses) the 8x8x10h and 64x16x2h synthetic Slurm files in
``.cache/read-floor/`` and prints, side by side, the plain h5py read, our read, read -> metrics
-> DuckDB file and -> PostgreSQL (when ``TEST_POSTGRES_HOST`` or ``POSTGRES_HOST`` is set), each
in seconds and as x the plain read, with PASS/FAIL against the targets. ``--memory`` measures
the peak RSS of the 64x16x24h job (7.7 GB file) into both sinks instead. Every measurement is a
fresh child process (``bench/ingest.py --measure``), best of ``--repeat``, warm page cache.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench._common import REPO, synthetic_job, warm
from bench.ingest import best_of, run_child

SIZES = {"8x8x10h": (8, 8, 36_000), "64x16x2h": (64, 16, 7200)}
HUGE = ("64x16x24h", (64, 16, 86_400))
# x the plain h5py read; None: shown, not judged
TARGETS = {"h5py-plain": None, "ours-read": 0.5, "ours-duckdb": 1.5, "ours-pg": 1.5}
RSS_CAP_MB = 1000.0  # MB = 10**6 bytes


def postgres_configured() -> bool:
    return bool(os.environ.get("TEST_POSTGRES_HOST") or os.environ.get("POSTGRES_HOST"))


def variants(args: argparse.Namespace) -> list[str]:
    pg = postgres_configured() and not args.no_postgres
    return [kind for kind in TARGETS if kind != "ours-pg" or pg]


def speed(args: argparse.Namespace) -> None:
    kinds = variants(args)
    print(
        f"{'size':<10} {'variant':<12} {'s':>7} {'x plain':>8} {'target':>7} {'':>5} {'RSS MB':>7}"
    )
    for label, shape in SIZES.items():
        path = synthetic_job(args.workdir, *shape)
        warm(path)
        runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
        for _ in range(args.repeat):  # round robin: load from others hits every variant alike
            for kind in kinds:
                runs[kind].append(run_child(kind, path, args.timeout))
        best = {kind: best_of(found) for kind, found in runs.items()}
        floor_s = best["h5py-plain"].get("seconds")
        for kind in kinds:
            print(f"{label:<10} {kind:<12} {line(best[kind], floor_s, TARGETS[kind])}")
    if not postgres_configured():
        print("ours-pg skipped: set TEST_POSTGRES_HOST or POSTGRES_HOST")


def line(run: dict, floor_s: float | None, target: float | None) -> str:
    if "seconds" not in run:
        return f"{run.get('error', 'not run')[:60]}"
    ratio = run["seconds"] / floor_s if floor_s else None
    shown = "-" if ratio is None else f"{ratio:.2f}x"
    goal = "" if target is None else f"<={target:g}x"
    verdict = "" if target is None or ratio is None else ("PASS" if ratio <= target else "FAIL")
    return f"{run['seconds']:7.2f} {shown:>8} {goal:>7} {verdict:>5} {run['rss_peak_mb']:7.0f}"


def memory(args: argparse.Namespace) -> None:
    label, shape = HUGE
    path = synthetic_job(args.workdir, *shape)
    warm(path)
    kinds = [kind for kind in variants(args) if kind.startswith("ours-") and kind != "ours-read"]
    print(f"{'size':<10} {'variant':<12} {'s':>7} {'peak RSS MB':>12} {'target':>8} {'':>5}")
    for kind in kinds:
        run = run_child(kind, path, args.timeout)
        if "rss_peak_mb" not in run:
            print(f"{label:<10} {kind:<12} {run.get('error', 'not run')[:60]}")
            continue
        verdict = "PASS" if run["rss_peak_mb"] < RSS_CAP_MB else "FAIL"
        print(
            f"{label:<10} {kind:<12} {run['seconds']:7.1f} {run['rss_peak_mb']:12.0f} "
            f"{'<' + str(int(RSS_CAP_MB)):>8} {verdict:>5}"
        )
    if not postgres_configured():
        print("ours-pg skipped: set TEST_POSTGRES_HOST or POSTGRES_HOST")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memory", action="store_true", help="64x16x24h peak RSS, both sinks")
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant, best is shown")
    parser.add_argument("--no-postgres", action="store_true", help="skip ours->PostgreSQL")
    parser.add_argument("--workdir", type=Path, default=REPO / ".cache" / "read-floor")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per child process")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; warm cache")
    if args.memory:
        memory(args)
    else:
        speed(args)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
