"""The direct chunk reader returns h5py's records byte for byte, or steps aside for h5py."""

from __future__ import annotations

import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis_module.processing import open_profile
from analysis_module.processing.errors import ProfileError, TruncatedProfileError
from analysis_module.processing.hdf5_chunks import ChunkSource, combined_adler32, read_records
from tests.support.slurm_synth import write_synthetic_job

REPO = Path(__file__).resolve().parents[2]
REPO_FILES = sorted(
    [*REPO.glob("tests/data/**/*.h5"), *REPO.glob("examples/profiles/**/*.h5")], key=str
)
ENERGY = np.dtype([("ElapsedTime", "<u8"), ("EpochTime", "<u8"), ("NodePower", "<u8")])


def series_tables(h5: h5py.File) -> list[h5py.Dataset]:
    names: list[str] = []
    h5.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return [h5[name] for name in names if h5[name].dtype.names is not None]


def fast_read(path: Path, ds: h5py.Dataset) -> np.ndarray | None:
    source = ChunkSource(str(path))
    try:
        return read_records(ds, ds.dtype, ds.shape[0], source, str(path))
    finally:
        source.close()


def energy_file(path: Path, rows: np.ndarray | None = None, **layout) -> Path:
    if rows is None:
        rows = np.zeros(95, dtype=layout.pop("dtype", ENERGY))
        rows["ElapsedTime"] = np.arange(rows.size)
        rows["EpochTime"] = 1_700_000_000 + np.arange(rows.size)
        rows["NodePower"] = 100 + np.arange(rows.size) % 7
    settings = {"chunks": (10,), "maxshape": (None,), "compression": "gzip"}
    settings |= {"compression_opts": 0} | layout
    with h5py.File(path, "w") as h5:
        h5.create_group("n1").create_dataset("Energy", data=rows, **settings)
    return path


@pytest.mark.parametrize("path", REPO_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_repository_table_reads_as_h5py_reads_it(path: Path) -> None:
    with h5py.File(path, "r") as h5:
        tables = series_tables(h5)
        fast = [(ds, fast_read(path, ds)) for ds in tables]
        for ds, rows in fast:
            if rows is not None:
                assert rows.dtype == ds.dtype
                assert rows.tobytes() == ds[()].tobytes(), ds.name
    assert tables and all(rows is not None for _, rows in fast), "Slurm's layout, read directly"


def test_a_synthetic_job_reads_the_same_and_charges_the_budget(tmp_path: Path) -> None:
    path = write_synthetic_job(tmp_path / "job_7.h5", n_nodes=2, tasks_per_node=3, duration_s=95)
    with open_profile(path) as profile:
        tables = [(profile.read_energy(ns), profile.read_tasks(ns)) for ns in profile.node_steps]
        charged = profile.budget.decoded_bytes
    with h5py.File(path, "r") as h5:
        datasets = series_tables(h5)
        assert charged == sum(ds.shape[0] * ds.dtype.itemsize for ds in datasets)
        powers = sorted(ds[()]["Power"].tolist() for ds in datasets if ds.name.endswith("Energy"))
    read = sorted(energy.column("Power").to_pylist() for energy, _ in tables)
    assert read == powers


def test_big_endian_members_read_as_h5py_reads_them(tmp_path: Path) -> None:
    big = np.dtype([("ElapsedTime", ">u8"), ("EpochTime", ">u8"), ("NodePower", ">f8")])
    path = energy_file(tmp_path / "job_1.h5", dtype=big)
    with h5py.File(path, "r") as h5:
        ds = h5["n1/Energy"]
        rows = fast_read(path, ds)
        assert rows is not None and rows.tobytes() == ds[()].tobytes()


def test_really_compressed_chunks_are_inflated_to_the_same_records(tmp_path: Path) -> None:
    path = energy_file(tmp_path / "job_1.h5", compression_opts=6)
    with h5py.File(path, "r") as h5:
        ds = h5["n1/Energy"]
        rows = fast_read(path, ds)
        assert rows is not None and rows.tobytes() == ds[()].tobytes()


def test_shuffle_is_left_to_h5py(tmp_path: Path) -> None:
    path = energy_file(tmp_path / "job_1.h5", shuffle=True)
    with h5py.File(path, "r") as h5:
        assert fast_read(path, h5["n1/Energy"]) is None
    with open_profile(path) as profile:
        energy = profile.read_energy(profile.node_steps[0])
    assert energy.column("NodePower").to_pylist()[:8] == [100, 101, 102, 103, 104, 105, 106, 100]


def test_a_corrupted_chunk_is_reported_by_hdf5_as_before(tmp_path: Path) -> None:
    path = energy_file(tmp_path / "job_1.h5")
    with h5py.File(path, "r") as h5:
        infos: list = []
        h5["n1/Energy"].id.chunk_iter(infos.append)
    payload_byte = infos[3].byte_offset + 7 + 20
    data = bytearray(path.read_bytes())
    data[payload_byte] ^= 0xFF
    path.write_bytes(bytes(data))
    with h5py.File(path, "r") as h5:
        assert fast_read(path, h5["n1/Energy"]) is None  # the checksums no longer add up
    with open_profile(path) as profile, pytest.raises(TruncatedProfileError, match="n1/Energy"):
        profile.read_energy(profile.node_steps[0])


def test_a_chunk_inflating_short_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "job_1.h5"
    with h5py.File(path, "w") as h5:
        ds = h5.create_dataset(
            "n1/Energy", shape=(20,), dtype=ENERGY, chunks=(10,), compression="gzip"
        )
        ds.id.write_direct_chunk((0,), zlib.compress(bytes(10 * ENERGY.itemsize), 6))
        ds.id.write_direct_chunk((10,), zlib.compress(bytes(9 * ENERGY.itemsize), 6))
    with h5py.File(path, "r") as h5, pytest.raises(ProfileError) as caught:
        fast_read(path, h5["n1/Energy"])
    message = str(caught.value)
    assert "\n" not in message
    assert "chunk 1 of /n1/Energy does not inflate to its 240 bytes" in message


def test_the_combined_checksum_is_zlibs_checksum_of_the_whole() -> None:
    chunks = [
        bytes(np.random.default_rng(n).integers(0, 256, 800, dtype=np.uint8)) for n in range(7)
    ]
    stored = np.array([zlib.adler32(chunk) for chunk in chunks], dtype=np.int64)
    assert combined_adler32(stored, 800) == zlib.adler32(b"".join(chunks))
