"""Files that are not readable Slurm profiles fail with a specific, one-line reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis_module.processing import (
    EmptyProfileError,
    NotHDF5Error,
    ProfileError,
    TruncatedProfileError,
    UnsupportedLayoutError,
    open_profile,
)
from tests.support.slurm_synth import (
    NodeSpec,
    StepSpec,
    append_rows,
    write_int_attr,
    write_job_file,
    write_legacy_file,
    write_node_attrs,
)

JOB_5 = Path(__file__).resolve().parents[2] / "examples" / "profiles" / "job_5.h5"


def _raises(path: Path, error: type[ProfileError], *phrases: str) -> ProfileError:
    with pytest.raises(error) as caught:
        open_profile(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message == caught.value.reason
    assert str(path) in message
    for phrase in phrases:
        assert phrase in message
    return caught.value


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "job_1.h5"
    path.write_bytes(b"")
    _raises(path, NotHDF5Error, "empty", "not an HDF5 file")


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "job_1.h5"
    path.write_bytes(np.random.default_rng(1).bytes(5000))
    _raises(path, NotHDF5Error, "not an HDF5 file", "no HDF5 signature")


def test_text_file_renamed_h5(tmp_path: Path) -> None:
    path = tmp_path / "job_1.h5"
    path.write_text("Step,Node,ElapsedTime\n0,vm,0\n")
    _raises(path, NotHDF5Error, "not an HDF5 file", "Step,Node")


def test_truncated_copy_of_a_real_file(tmp_path: Path) -> None:
    data = JOB_5.read_bytes()
    path = tmp_path / "job_5.h5"
    path.write_bytes(data[: len(data) // 2])
    _raises(path, TruncatedProfileError, "truncated", str(len(data)), str(len(data) // 2))


def test_file_cut_inside_the_superblock(tmp_path: Path) -> None:
    path = tmp_path / "job_5.h5"
    path.write_bytes(JOB_5.read_bytes()[:20])
    _raises(path, TruncatedProfileError, "superblock")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_profile(tmp_path / "job_404.h5")


def test_hdf5_without_slurm_groups(tmp_path: Path) -> None:
    path = tmp_path / "job_1.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("temperatures", data=np.arange(3))
        h5.create_group("results")
    _raises(path, UnsupportedLayoutError, "not a Slurm profile", "/results", "/temperatures")


def test_hdf5_with_nothing_in_it(tmp_path: Path) -> None:
    path = tmp_path / "job_1.h5"
    h5py.File(path, "w").close()
    _raises(path, UnsupportedLayoutError, "not a Slurm profile")


def test_legacy_layout(tmp_path: Path) -> None:
    path = write_legacy_file(tmp_path / "job_1.h5")
    _raises(path, UnsupportedLayoutError, "legacy", "pre-15.08", "/Step_0")


def test_merged_file_without_steps_is_empty(tmp_path: Path) -> None:
    path = write_job_file(tmp_path / "job_1.h5", job_id=1, steps=[])
    _raises(path, EmptyProfileError, "without any step")


def test_node_step_file_without_series_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "1_0_n1.h5"
    with h5py.File(path, "w") as h5:
        write_node_attrs(h5.create_group("n1"), NodeSpec(name="n1"))
    _raises(path, EmptyProfileError, "without any recorded series")


def _file_with_energy_rows(path: Path, rows: np.ndarray) -> Path:
    with h5py.File(path, "w") as h5:
        write_int_attr(h5, "Number of Steps", 1)
        node = h5.create_group("Steps/0/Nodes/n1")
        write_node_attrs(node, NodeSpec(name="n1"))
        append_rows(node, "Energy", rows)
    return path


def test_series_without_time_fields_names_the_dataset(tmp_path: Path) -> None:
    rows = np.zeros(3, dtype=[("Time", "<u8"), ("Power", "<u8")])
    path = _file_with_energy_rows(tmp_path / "job_1.h5", rows)
    with open_profile(path) as profile, pytest.raises(UnsupportedLayoutError) as caught:
        profile.read_energy(profile.node_steps[0])
    assert "/Steps/0/Nodes/n1/Energy" in str(caught.value)
    assert "ElapsedTime/EpochTime" in str(caught.value)


def test_swapped_times_of_slurm_15_08_0(tmp_path: Path) -> None:
    rows = np.zeros(2, dtype=[("ElapsedTime", "<u8"), ("EpochTime", "<u8"), ("Power", "<u8")])
    rows["ElapsedTime"] = [1_700_000_000, 1_700_000_001]
    rows["EpochTime"] = [0, 1]
    path = _file_with_energy_rows(tmp_path / "job_1.h5", rows)
    with open_profile(path) as profile, pytest.raises(UnsupportedLayoutError, match=r"15\.08\.0"):
        profile.read_energy(profile.node_steps[0])


def test_corrupt_chunk_becomes_a_profile_error_naming_the_dataset(tmp_path: Path) -> None:
    path = tmp_path / "job_5.h5"
    shutil.copy(JOB_5, path)
    with h5py.File(path, "r") as h5:
        chunk = h5["Steps/batch/Nodes/vm/Energy"].id.get_chunk_info(0)
    with path.open("r+b") as fh:  # break the deflate stream of the first chunk
        fh.seek(chunk.byte_offset)
        fh.write(b"\xff" * chunk.size)
    with open_profile(path) as profile, pytest.raises(ProfileError) as caught:
        profile.read_energy(profile.node_steps[0])
    assert "/Steps/batch/Nodes/vm/Energy" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_merged_file_whose_steps_have_no_nodes_is_empty(tmp_path: Path) -> None:
    path = write_job_file(tmp_path / "job_1.h5", job_id=1, steps=[StepSpec("0", [])])
    _raises(path, EmptyProfileError, "/Steps")
