"""Peak memory of the batch CLI for one file whose largest table sits just under the row cap.

Run ``.venv/bin/python bench/hostile_memory.py`` (``--help`` for options). Each case is a valid,
single-node merged profile whose Energy table (3 members, 24-byte rows) or whose one Tasks
table (Slurm's 8 task members, 80-byte rows) holds just under ``PROFILE_MAX_SERIES_ROWS`` rows
(or ``--rows``). Memory goes with rows, not bytes: at 128 MiB decoded, Energy (5.6 M rows)
peaked at 1970 MB and Tasks (1.7 M rows) at 797 MB, about 330-420 bytes per row either way.
At the default cap (1.6 M rows) Energy peaked at 760 MB and Tasks at 764 MB (2026-12-01).
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
CASES = ("energy", "tasks")


def write_case(path: Path, case: str, n_rows: int) -> None:
    """One node at 1 Hz whose Energy (or one task's Tasks) holds ``n_rows`` rows."""
    import h5py
    import numpy as np

    from tests.support.slurm_synth import (
        TASK_FIELDS,
        NodeSpec,
        TaskSeries,
        default_task_fields,
        power_pattern,
        series_rows,
        write_int_attr,
        write_node_attrs,
    )

    task_fields = {k: v for k, v in TASK_FIELDS.items() if not k.startswith("GPU")}
    n_energy = n_rows if case == "energy" else 600
    with h5py.File(path, "w") as h5:
        write_int_attr(h5, "Number of Steps", 1)
        group = h5.create_group("Steps/0/Nodes/n1")
        write_node_attrs(group, NodeSpec("n1", 0, START_EPOCH, n_tasks=1))
        epochs = START_EPOCH + np.arange(n_energy)
        watts = {"NodePower": power_pattern(epochs, (100, 250), 5)}
        rows = series_rows(epochs, START_EPOCH, watts, None)
        _write_blocks(group, "Energy", rows)
        n_tasks = n_rows if case == "tasks" else 600
        epochs = START_EPOCH + 1 + np.arange(n_tasks)
        fields = default_task_fields(TaskSeries(epochs), 0)
        values = {k: v for k, v in fields.items() if k in task_fields}
        _write_blocks(group, "Tasks/0", series_rows(epochs, START_EPOCH, values, task_fields))


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


def default_series_rows() -> int:
    """The setting's value, read in a child so this parent does not grow by the imports."""
    code = "from analysis_module.settings import AnalysisSettings as S; "
    code += "print(S().profile_max_series_rows)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    return int(done.stdout.strip())


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
        f"{case:>7}: {n_rows:>9} rows ({file_mb:5.1f} MB file)  "
        f"peak {peak_mb:6.0f} MB  target < {TARGET_MB:.0f} MB  {verdict}  exit {code}"
    )
    if code != 0:
        print(f"         {last}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help="rows of the table (default: just under the cap)")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--write", nargs=3, help=argparse.SUPPRESS)  # child: case bytes path
    args = parser.parse_args(argv)
    if args.write:
        case, n_bytes, path = args.write
        write_case(Path(path), case, int(n_bytes))
        return
    n_rows = args.rows or default_series_rows() - 10  # just under the cap
    with tempfile.TemporaryDirectory(prefix="hostile-memory-") as tmp:
        for case in args.cases:
            run_case(case, n_rows, Path(tmp))


if __name__ == "__main__":
    main()
