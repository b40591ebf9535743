"""What the reader refuses before reading data, and the per-file limits while it reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis_module.processing import (
    ProfileTooLargeError,
    ReadLimits,
    UnsafeProfileError,
    UnsupportedLayoutError,
    open_profile,
)
from analysis_module.processing.hdf5_guard import ReadBudget
from analysis_module.settings import AnalysisSettings
from tests.support import hostile_profiles as hostile
from tests.support.slurm_synth import (
    NodeSpec,
    StepSpec,
    write_int_attr,
    write_job_file,
    write_node_attrs,
)

JOB_5 = Path(__file__).resolve().parents[2] / "examples" / "profiles" / "job_5.h5"

REFUSED_ON_OPEN = [
    (hostile.case_external_storage_secret, UnsafeProfileError),
    (hostile.case_external_storage_passwd, UnsafeProfileError),
    (hostile.case_external_link, UnsafeProfileError),
    (hostile.case_soft_link_out_of_tree, UnsafeProfileError),
    (hostile.case_virtual_dataset, UnsafeProfileError),
    (hostile.case_non_utf8_node_name, UnsafeProfileError),
    (hostile.case_foreign_filter, UnsafeProfileError),
    (hostile.case_hard_linked_twice, UnsafeProfileError),
    (hostile.case_huge_declared_rows, ProfileTooLargeError),
    (hostile.case_gzip_bomb, ProfileTooLargeError),
    (hostile.case_energy_over_row_limit, ProfileTooLargeError),
    (hostile.case_node_tasks_over_row_limit, ProfileTooLargeError),
]


@pytest.mark.parametrize(("case", "error"), REFUSED_ON_OPEN, ids=lambda c: c.__name__)
def test_refused_before_any_data_is_read(tmp_path: Path, case, error) -> None:
    (tmp_path / "corpus").mkdir()
    want = case(tmp_path / "corpus", tmp_path)
    (path,) = (tmp_path / "corpus").iterdir()
    with pytest.raises(error) as caught:
        open_profile(path)
    assert want.phrase in caught.value.reason
    assert str(path) in caught.value.reason
    assert hostile.SECRET_MARKER not in caught.value.reason


@pytest.mark.parametrize(
    "case",
    [hostile.case_string_epoch, hostile.case_int8_power, hostile.case_nested_compound],
    ids=lambda c: c.__name__,
)
def test_malformed_member_types_are_named(tmp_path: Path, case) -> None:
    want = case(tmp_path, tmp_path)
    (path,) = tmp_path.glob("*.h5")
    with open_profile(path) as profile, pytest.raises(UnsupportedLayoutError) as caught:
        profile.read_energy(profile.node_steps[0])
    assert want.phrase in caught.value.reason


def test_no_filter_plugin_can_be_loaded() -> None:
    # importing the reader emptied HDF5's plugin search path
    assert h5py.h5pl.size() == 0


def test_declared_data_beyond_the_decoded_budget_are_refused_up_front() -> None:
    with pytest.raises(ProfileTooLargeError, match="PROFILE_MAX_DECODED_BYTES"):
        open_profile(JOB_5, ReadLimits(max_decoded_bytes=1_000))


def test_the_row_default_matches_the_corpus() -> None:
    assert ReadLimits().max_series_rows == hostile.DEFAULT_MAX_SERIES_ROWS
    assert AnalysisSettings().profile_max_series_rows == hostile.DEFAULT_MAX_SERIES_ROWS


def test_the_energy_defaults_match_the_corpus() -> None:
    settings = AnalysisSettings()
    assert ReadLimits().max_energy_table_bytes == hostile.DEFAULT_MAX_ENERGY_TABLE_BYTES
    assert settings.profile_max_energy_table_bytes == hostile.DEFAULT_MAX_ENERGY_TABLE_BYTES
    assert ReadLimits().max_energy_bytes == hostile.DEFAULT_MAX_ENERGY_BYTES
    assert settings.profile_max_energy_bytes == hostile.DEFAULT_MAX_ENERGY_BYTES


def test_64_nodes_of_24h_energy_with_8_gpus_open_under_the_defaults(tmp_path: Path) -> None:
    """The valid big job: 64 x 86,401 Energy rows; one node with NodePower and 8 GPU<i>Power."""
    gpu_dtype = np.dtype(hostile.ENERGY_DTYPE.descr + [(f"GPU{i}Power", "<u8") for i in range(8)])
    with h5py.File(tmp_path / "job_1.h5", "w") as h5:
        write_int_attr(h5, "Number of Steps", 1)
        for index in range(64):
            group = h5.create_group(f"Steps/0/Nodes/node{index:03d}")
            write_node_attrs(group, NodeSpec(f"node{index:03d}", index, hostile.START_S))
            dtype = gpu_dtype if index == 0 else hostile.ENERGY_DTYPE
            hostile.backed_dataset(group, "Energy", dtype, 86_401)
    with open_profile(tmp_path / "job_1.h5") as profile:
        assert len(profile.node_steps) == 64


def test_the_energy_bound_counts_every_node_of_the_file() -> None:
    limits = ReadLimits(max_energy_bytes=1_000)
    with pytest.raises(ProfileTooLargeError) as caught:
        open_profile(JOB_5, limits)
    assert "its Energy tables together need more than" in caught.value.reason
    assert caught.value.reason.endswith("PROFILE_MAX_ENERGY_BYTES)")


def test_tasks_with_members_slurm_never_writes_read_as_the_narrow_file(tmp_path: Path) -> None:
    """A 1 KB Tasks record reads as its 8 Slurm members; values are those of the narrow file."""
    narrow, wide = tmp_path / "narrow" / "job_1.h5", tmp_path / "wide" / "job_1.h5"
    for path, extra in ((narrow, 0), (wide, 116)):
        path.parent.mkdir()
        h5, group = hostile._skeleton(path)
        dtype = np.dtype(hostile.TASK_DTYPE.descr + [(f"X{i}", "<u8") for i in range(extra)])
        rows = np.zeros(50, dtype=dtype)
        rows["EpochTime"] = hostile.START_S + np.arange(50)
        rows["RSS"] = np.arange(50) * 1024
        rows["CPUTime"] = np.arange(50) / 2
        with h5:
            group.create_dataset("Tasks/0", data=rows)
    with open_profile(narrow) as a, open_profile(wide) as b:
        narrow_tasks, wide_tasks = a.read_tasks(a.node_steps[0]), b.read_tasks(b.node_steps[0])
    assert wide_tasks.equals(narrow_tasks)
    assert wide_tasks.column("rss_kib").to_pylist()[:3] == [0, 1024, 2048]


def test_a_node_of_the_64x16x24h_benchmark_job_opens_under_the_defaults(tmp_path: Path) -> None:
    """16 tasks x 86,400 rows at 1 Hz (1.38 M rows read as one table): below the row bound."""
    with h5py.File(tmp_path / "job_1.h5", "w") as h5:
        write_int_attr(h5, "Number of Steps", 1)
        group = h5.create_group("Steps/0/Nodes/node000")
        write_node_attrs(group, NodeSpec("node000", 0, hostile.START_S, n_tasks=16))
        hostile.backed_dataset(group, "Energy", hostile.ENERGY_DTYPE, 86_401)
        for rank in range(16):
            hostile.backed_dataset(group, f"Tasks/{rank}", hostile.TASK_DTYPE, 86_400)
    with open_profile(tmp_path / "job_1.h5") as profile:
        assert profile.node_steps[0].task_ranks == tuple(range(16))


def test_the_row_bound_names_the_node_whose_tasks_pass_it() -> None:
    with pytest.raises(ProfileTooLargeError) as caught:
        open_profile(JOB_5, ReadLimits(max_series_rows=5))
    assert "(PROFILE_MAX_SERIES_ROWS)" in caught.value.reason
    assert "more than 5 rows" in caught.value.reason


def test_reads_are_charged_to_the_budget(tmp_path: Path) -> None:
    path = shutil.copy(JOB_5, tmp_path / "job_5.h5")
    with open_profile(path) as profile:
        assert profile.budget.decoded_bytes == 0
        energy = profile.read_energy(profile.node_steps[0])
        assert profile.budget.decoded_bytes == energy.num_rows * 24  # 3 u64 members per row


def test_too_many_objects_are_refused() -> None:
    with pytest.raises(ProfileTooLargeError, match="PROFILE_MAX_OBJECTS"):
        open_profile(JOB_5, ReadLimits(max_objects=5))


def test_the_time_budget_stops_a_slow_file() -> None:
    now = [100.0]
    budget = ReadBudget(ReadLimits(max_seconds=30), "job_1.h5", clock=lambda: now[0])
    budget.check_time("reading")
    now[0] = 131.0
    with pytest.raises(ProfileTooLargeError, match=r"longer than 30 s \(PROFILE_MAX_SECONDS\)"):
        budget.charge(10, "dataset /x")


def test_a_swapped_time_error_never_echoes_the_values(tmp_path: Path) -> None:
    """The original leak: host bytes came back as 'ElapsedTime 5221198499211007853'."""
    epochs = np.array([1, 2], dtype=np.int64)
    node = NodeSpec("n1", 0, 0, energy={"Power": np.array([5, 5], "u8")}, energy_epochs=epochs)
    path = write_job_file(tmp_path / "job_1.h5", job_id=1, steps=[StepSpec("0", [node])])
    with h5py.File(path, "r+") as h5:
        ds = h5["Steps/0/Nodes/n1/Energy"]
        rows = ds[()]
        rows["ElapsedTime"] = 5221198499211007853
        ds[...] = rows
    with open_profile(path) as profile, pytest.raises(UnsupportedLayoutError) as caught:
        profile.read_energy(profile.node_steps[0])
    assert "15.08.0" in caught.value.reason
    assert "5221198499211007853" not in caught.value.reason
