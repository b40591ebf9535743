"""Peak memory of the batch CLI for one file whose tables sit just under the memory bounds.

Run ``.venv/bin/python bench/hostile_memory.py`` (``--help`` for options). Each case is a valid
merged profile at 1 Hz, one bound at a time:

- ``energy``: one node's Energy (NodePower, 24-byte rows) just under ``PROFILE_MAX_SERIES_ROWS``;
- ``tasks``: one Tasks table (Slurm's 8 task members, 80-byte rows), the same rows;
- ``wide_energy``: Energy with NodePower and 18 other ``<label>Power`` members (168-byte rows,
  every member a kept component) just under ``PROFILE_MAX_ENERGY_TABLE_BYTES``;
- ``wide_tasks``: Tasks whose records carry 100 members Slurm never writes (~880-byte rows),
  just under ``PROFILE_MAX_SERIES_ROWS`` rows: the reader reads only the members it uses;
- ``energy_nodes``: narrow Energy, 800,000 rows per node, on as many nodes as
  ``PROFILE_MAX_ENERGY_BYTES`` allows (every node's power series is kept until the job's
  figures are built).

Memory goes with rows more than bytes: at 128 MiB decoded, Energy (5.6 M rows) peaked at
1970 MB and Tasks (1.7 M rows) at 797 MB, about 330-420 bytes per row either way. Measured peaks
at the defaults are in the README's hostile-input section (2026-12-01).
The file is written by a child process, so this parent stays small: the CLI's peak RSS
comes from ``os.wait4`` (``ru_maxrss``), which on
Linux may include the few MB this parent had before the child's exec, so it only overstates.
The numbers are printed beside the 1 GB target of the hostile-input work.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

REPO = Path(__file__).resolve().parents[1]
TARGET_MB = 1000.0  # "under 1 GB"; MB = 10**6 bytes
START_EPOCH = 1_700_000_000
BLOCK_ROWS = 1 << 20
CASES = ("energy", "tasks", "wide_energy", "wide_tasks", "energy_nodes")
OTHER_POWER = tuple(f"L{i}Power" for i in range(18))  # IPMI labels: components of NodePower
FOREIGN_TASK_MEMBERS = tuple(f"Extra{i}" for i in range(100))


def write_case(path: Path, case: str, n_rows: int) -> None:
    """The case's file; ``n_rows`` is the row count of its largest table (per node)."""
    import h5py

    from tests.support.slurm_synth import write_int_attr

    n_nodes = 1
    if case == "energy_nodes":
        kept_bytes_per_row = 24 + 72  # the record + ENERGY_KEPT_BYTES_PER_ROW
        n_nodes = _setting("profile_max_energy_bytes") // (kept_bytes_per_row * n_rows)
    with h5py.File(path, "w") as h5:
        write_int_attr(h5, "Number of Steps", 1)
        for index in range(n_nodes):
            energy_rows = n_rows if "energy" in case else 600
            task_rows = n_rows if "tasks" in case else 600
            _write_node(h5, f"n{index}", index, case, energy_rows, task_rows)


def _write_node(h5, name: str, index: int, case: str, energy_rows: int, task_rows: int) -> None:
    import numpy as np

    from tests.support.slurm_synth import (
        TASK_FIELDS,
        NodeSpec,
        TaskSeries,
        default_task_fields,
        power_pattern,
        series_rows,
        write_node_attrs,
    )

    group = h5.create_group(f"Steps/0/Nodes/{name}")
    write_node_attrs(group, NodeSpec(name, index, START_EPOCH, n_tasks=1))
    epochs = START_EPOCH + np.arange(energy_rows)
    watts = {"NodePower": power_pattern(epochs, (100, 250), 5)}
    if case == "wide_energy":
        watts |= {label: np.full(energy_rows, 10, dtype=np.uint64) for label in OTHER_POWER}
    _write_blocks(group, "Energy", series_rows(epochs, START_EPOCH, watts, None))
    task_fields = {k: v for k, v in TASK_FIELDS.items() if not k.startswith("GPU")}
    epochs = START_EPOCH + 1 + np.arange(task_rows)
    fields = default_task_fields(TaskSeries(epochs), index)
    values = {k: v for k, v in fields.items() if k in task_fields}
    if case == "wide_tasks":
        task_fields |= dict.fromkeys(FOREIGN_TASK_MEMBERS, np.dtype("<u8"))
        junk = np.random.default_rng(14).integers(0, 1 << 16, task_rows, dtype=np.uint64)
        values |= dict.fromkeys(FOREIGN_TASK_MEMBERS, junk)  # compressible like real data
    _write_blocks(group, f"Tasks/{index}", series_rows(epochs, START_EPOCH, values, task_fields))


def _write_blocks(group, name: str, rows) -> None:
    """Deflated 64 Ki-row chunks (Slurm uses 10 rows; bigger chunks write in seconds)."""
    chunk_rows = min(len(rows), 1 << 16)
    group.create_dataset(
        name, data=rows, chunks=(chunk_rows,), compression="gzip", compression_opts=1
    )


def measure_cli(folder: Path) -> tuple[int, float, str]:
    """(exit code, peak RSS in MB, last stderr line) of the batch CLI over ``folder``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "MINIO_"))}
    err_path = folder.parent / "stderr.txt"
    cmd = [sys.executable, "-m", "analysis_module.duckdb_analysis", "--source", str(folder)]
    cmd += ["--db", str(folder.parent / "out.duckdb"), "--json"]
    with err_path.open("wb") as err:
        child = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
    last = (err_path.read_text(errors="replace").strip().splitlines() or [""])[-1]
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024 / 1e6, last[:160]


def _setting(name: str) -> int:
    """A setting's default, read in a child so the calling process does not grow by the imports."""
    code = f"from analysis_module.settings import AnalysisSettings as S; print(S().{name})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    return int(done.stdout.strip())


def case_rows(case: str) -> int:
    """Rows per node that put the case just under its bound."""
    series_rows = _setting("profile_max_series_rows") - 10
    if case == "wide_energy":
        record_bytes = 8 * (3 + len(OTHER_POWER))
        return min(series_rows, _setting("profile_max_energy_table_bytes") // record_bytes - 10)
    if case == "energy_nodes":
        return series_rows // 2  # more nodes, each well inside the one-table bounds
    return series_rows


def run_case(case: str, n_rows: int, workdir: Path) -> None:
    folder = workdir / case / "corpus"
    folder.mkdir(parents=True)
    path = folder / "job_1.h5"
    subprocess.run(
        [sys.executable, __file__, "--write", case, str(n_rows), str(path)],
        check=True, cwd=REPO,
    )  # fmt: skip
    code, peak_mb, last = measure_cli(folder)
    verdict = "ok" if peak_mb < TARGET_MB else "OVER"
    file_mb = path.stat().st_size / 1e6
    print(
        f"{case:>12}: {n_rows:>9} rows ({file_mb:6.1f} MB file)  "
        f"peak {peak_mb:6.0f} MB  target < {TARGET_MB:.0f} MB  {verdict}  exit {code}"
    )
    if code != 0:
        print(f"         {last}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help="rows per node (default: just under the bound)")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--write", nargs=3, help=argparse.SUPPRESS)  # child: case bytes path
    args = parser.parse_args(argv)
    if args.write:
        case, n_bytes, path = args.write
        write_case(Path(path), case, int(n_bytes))
        return
    with tempfile.TemporaryDirectory(prefix="hostile-memory-") as tmp:
        for case in args.cases:
            run_case(case, args.rows or case_rows(case), Path(tmp))


if __name__ == "__main__":
    main()
