"""The reader against real Slurm 22.05 files and sh5util's own CSV extracts of them."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from analysis_module.processing import (
    open_profile,
    read_profile_tables,
)

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "examples" / "profiles"
SH5UTIL = REPO / "tests" / "data" / "slurm"

TASK_COLUMN_BY_FIELD = {
    "CPUFrequency": "cpu_frequency",
    "CPUTime": "cpu_time_s",
    "CPUUtilization": "cpu_util_pct",
    "RSS": "rss_kib",
    "VMSize": "vmsize_kib",
    "Pages": "pages",
    "ReadMB": "read_mib",
    "WriteMB": "write_mib",
    "ElapsedTime": "elapsed_s",
    "EpochTime": "epoch_s",
}
EXTRACTS = [(2, "Tasks"), (4, "Energy"), (4, "Tasks"), (5, "Energy"), (5, "Tasks")]


def _sh5util_lines(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as fh:
        header, *rows = csv.reader(fh)
    return header, rows


def _column_name(series: str, field: str) -> str:
    if series == "Energy":
        return {"ElapsedTime": "elapsed_s", "EpochTime": "epoch_s"}.get(field, field)
    return TASK_COLUMN_BY_FIELD[field]


def _format(value: float | int, arrow_type: pa.DataType) -> str:
    """sh5util prints u64 as integers and doubles with %lf."""
    return f"{value:f}" if pa.types.is_floating(arrow_type) else str(value)


def _group_key(row: dict, series: str) -> tuple[str, ...]:
    """sh5util walks steps, nodes and tasks by *name*, i.e. lexicographically."""
    return (row["step"], row["node"]) + ((str(row["rank"]),) if series == "Tasks" else ())


def _our_table(job: int, series: str) -> pa.Table:
    return read_profile_tables(PROFILES / f"job_{job}.h5")[series.lower()]


@pytest.mark.parametrize(("job", "series"), EXTRACTS)
def test_every_time_series_value_matches_sh5util(job: int, series: str) -> None:
    header, expected = _sh5util_lines(SH5UTIL / f"job_{job}_E_{series}_NodeTimeSeries.csv")
    table = _our_table(job, series)
    fields = header[3:] if series == "Tasks" else header[2:]
    columns = [_column_name(series, f) for f in fields]
    rows = sorted(table.to_pylist(), key=lambda r: _group_key(r, series))  # stable: file order
    ours = [
        [*_group_key(row, series)] + [_format(row[c], table.schema.field(c).type) for c in columns]
        for row in rows
    ]
    assert ours == expected


@pytest.mark.parametrize(("job", "series"), EXTRACTS)
def test_node_totals_recomputed_from_our_tables_match_sh5util(job: int, series: str) -> None:
    header, expected = _sh5util_lines(SH5UTIL / f"job_{job}_E_{series}_NodeTotals.csv")
    table = _our_table(job, series)
    fields = [h.removeprefix("Min_") for h in header if h.startswith("Min_")]
    groups: dict[tuple[str, ...], list[dict]] = {}
    for row in table.to_pylist():
        groups.setdefault(_group_key(row, series), []).append(row)
    ours = []
    for key in sorted(groups):
        rows = groups[key]
        line = [*key, str(rows[-1]["elapsed_s"])]  # sh5util: the last record's ElapsedTime
        for field in fields:
            column = _column_name(series, field)
            arrow_type = table.schema.field(column).type
            values = np.array([r[column] for r in rows])
            total = np.cumsum(values)[-1]  # sequential, like sh5util's C loop
            line += [_format(v, arrow_type) for v in (values.min(), values.max(), total)]
            line.append(f"{total / len(values):f}")
        ours.append(line)
    assert ours == expected


def test_real_job_5_structure_and_numeric_order() -> None:
    with open_profile(PROFILES / "job_5.h5") as profile:
        assert profile.layout == "merged"
        assert profile.job_id == "5"
        assert [ns.step for ns in profile.node_steps] == ["batch", "0", "1"]
        batch, step0, _ = profile.node_steps
        assert (batch.node, batch.node_index, batch.n_tasks, batch.cpus_per_task) == ("vm", 0, 1, 2)
        assert batch.start_time == "Sat Nov 28 20:48:44 2026"
        assert step0.series == ("Energy", "Tasks")
        assert step0.task_ranks == (0, 1)
        # Number of Nodes is missing on step 1 (sh5util bug): nothing in the reader depends on it


def test_real_energy_table_keeps_rows_types_and_duplicates() -> None:
    with open_profile(PROFILES / "job_4.h5") as profile:
        energy = profile.read_energy(profile.node_steps[0])
    assert energy.schema.names == ["step", "node", "elapsed_s", "epoch_s", "Power"]
    assert energy.schema.field("Power").type == pa.uint64()
    assert energy.schema.field("elapsed_s").type == pa.int64()
    assert energy.schema.field("step").type == pa.string()
    # every Energy table starts with two rows at ElapsedTime 0; both are kept
    assert energy.column("elapsed_s").to_pylist()[:3] == [0, 0, 1]
    assert energy.num_rows == 17


def test_real_tasks_table_columns_follow_the_contract() -> None:
    with open_profile(PROFILES / "job_5.h5") as profile:
        tasks = profile.read_tasks(profile.node_steps[1])
    assert tasks.schema.names == [
        "step", "node", "elapsed_s", "epoch_s", "rank", "cpu_frequency", "cpu_time_s",
        "cpu_util_pct", "rss_kib", "vmsize_kib", "pages", "read_mib", "write_mib",
    ]  # fmt: skip
    assert tasks.schema.field("rank").type == pa.int32()
    ranks = tasks.column("rank").to_numpy()
    assert (np.diff(ranks) >= 0).all()  # rank order, then file order
    assert set(tasks.column("step").to_pylist()) == {"0"}


def test_read_profile_tables_omits_absent_series() -> None:
    tables = read_profile_tables(PROFILES / "job_2.h5")
    assert set(tables) == {"tasks"}


@pytest.mark.parametrize("job", [4, 5])
def test_merged_and_node_step_files_give_identical_tables(job: int) -> None:
    node_step_files = sorted((PROFILES / "nodestep").glob(f"{job}_*_*.h5"))
    assert node_step_files
    with open_profile(PROFILES / f"job_{job}.h5") as merged:
        by_step = {ns.step: ns for ns in merged.node_steps}
        for path in node_step_files:
            with open_profile(path) as single:
                assert single.layout == "node_step"
                assert single.job_id == str(job)
                (ns,) = single.node_steps
                assert ns == by_step[ns.step]
                assert single.read_energy(ns).equals(merged.read_energy(by_step[ns.step]))
                assert single.read_tasks(ns).equals(merged.read_tasks(by_step[ns.step]))


def test_profile_methods_and_closed_profile() -> None:
    profile = open_profile(str(PROFILES / "job_4.h5"))
    ns = profile.node_steps[0]
    assert profile.read_tasks(ns).num_rows > 0
    assert profile.read_network(ns) is None
    assert profile.read_filesystem(ns) is None
    profile.close()
    with pytest.raises(ValueError, match="closed"):
        profile.read_energy(ns)
