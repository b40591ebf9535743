"""likwid-perfctr CSV output -> figures of merit (rates summed over threads, work = rate x time)."""

from __future__ import annotations

import pytest

from analysis_module.processing.likwid_csv import LikwidFormatError, parse_likwid_csv
from tests.conftest import DATA

ONE_THREAD = (DATA / "likwid" / "flops_dp_1thread.csv").read_bytes()


def _two_threads_mem_dp(with_per_thread: bool = True, region: str | None = None) -> str:
    prefix = f"Region {region}," if region else ""
    lines = ["STRUCT,Info,1", "CPU name:,Test CPU,"]
    if with_per_thread:
        lines += [
            f"TABLE,{prefix}Group 1 Metric,MEM_DP,4",
            "Metric,HWThread 0,HWThread 1",
            "Runtime (RDTSC) [s],10.0,10.0",
            "DP [MFLOP/s],1500.0,500.0",
            "Memory bandwidth [MBytes/s],20000.0,0",
            "Memory data volume [GBytes],200.0,0",
        ]
    lines += [
        f"TABLE,{prefix}Group 1 Metric STAT,MEM_DP,4",
        "Metric,Sum,Min,Max,Avg",
        "Runtime (RDTSC) [s] STAT,20.0,10.0,10.0,10.0",
        "DP [MFLOP/s] STAT,2000.0,500.0,1500.0,1000.0",
        "Memory bandwidth [MBytes/s] STAT,20000.0,0,20000.0,10000.0",
        "Memory data volume [GBytes] STAT,200.0,0,200.0,100.0",
    ]
    return "\n".join(lines) + "\n"


def test_single_thread_flops_dp_gives_rate_and_work():
    result = parse_likwid_csv(ONE_THREAD)
    assert result.info["CPU name"] == "Intel(R) Xeon(R) Platinum 8468"
    (group,) = result.groups
    assert group.group == "FLOPS_DP" and group.threads == 1 and group.region is None
    assert group.runtime_s == pytest.approx(100.1028)
    assert group.gflops_dp == pytest.approx(67.6284780)
    # 67628.478 MFLOP/s x 100.1028 s = 6769.80 GFLOP; the raw counters agree:
    # scalar + 8 x 512-bit packed double operations
    assert group.gflop_dp == pytest.approx(67628.4780 * 100.1028 / 1000)
    assert group.gflop_dp == pytest.approx((1350004480 + 8 * 846055123200) / 1e9, rel=1e-3)
    assert group.gflops_sp is None and group.mem_bandwidth_gbytes_per_s is None
    raw = next(t for t in result.tables if t.title == "Group 1 Raw")
    assert raw.header == ("Event", "Counter", "HWThread 0") and len(raw.rows) == 8


def test_threads_add_up_and_memory_bandwidth_is_reported():
    (group,) = parse_likwid_csv(_two_threads_mem_dp()).groups
    assert group.threads == 2
    assert group.gflops_dp == pytest.approx(2.0)
    assert group.gflop_dp == pytest.approx(20.0)  # (1500 + 500) MFLOP/s x 10 s
    assert group.mem_bandwidth_gbytes_per_s == pytest.approx(20.0)
    assert group.mem_volume_gbytes == pytest.approx(200.0)


def test_statistics_table_stands_in_when_per_thread_columns_are_missing():
    (group,) = parse_likwid_csv(_two_threads_mem_dp(with_per_thread=False)).groups
    assert group.threads is None
    assert group.runtime_s == pytest.approx(10.0)  # the longest thread, not the Sum of runtimes
    assert group.gflops_dp == pytest.approx(2.0)
    assert group.gflop_dp == pytest.approx(20.0)
    assert group.mem_bandwidth_gbytes_per_s == pytest.approx(20.0)


def test_marker_regions_are_kept_apart():
    text = _two_threads_mem_dp(region="solve") + _two_threads_mem_dp(region="setup")
    groups = parse_likwid_csv(text).groups
    assert [g.region for g in groups] == ["solve", "setup"]
    assert all(g.gflop_dp == pytest.approx(20.0) for g in groups)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no 'TABLE,Group <n> ...' section"),
        (b"time,power\n1,2\n", "no 'TABLE,Group <n> ...' section"),
        (b"\x89HDF\r\n\x1a\n\x00\x00", "not UTF-8 text"),
        (b"TABLE,Group 1 Metric,FLOPS_DP,x\n", "must end with its row count"),
        (b"TABLE,Group 1 Metric,FLOPS_DP,5\nMetric,HWThread 0\nDP [MFLOP/s],1\n", "ends first"),
        (
            b"TABLE,Group 1 Metric,FLOPS_DP,1\nMetric,HWThread 0\nDP [MFLOP/s],SECRETXYZ\n",
            "not a number",
        ),
        (b"a\x00b", "NUL bytes"),
    ],
)
def test_garbled_files_get_one_line_reasons_without_their_values(data, reason):
    with pytest.raises(LikwidFormatError) as caught:
        parse_likwid_csv(data)
    assert reason in caught.value.reason
    assert "\n" not in caught.value.reason and "SECRETXYZ" not in caught.value.reason


def test_oversized_input_is_refused_before_parsing():
    with pytest.raises(LikwidFormatError, match="larger than 16 MiB"):
        parse_likwid_csv(b"x" * (16 * 1024 * 1024 + 1))
