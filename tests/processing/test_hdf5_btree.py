"""The chunk index read from the file's B-tree is h5py's ``chunk_iter`` index, or steps aside."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis_module.processing.hdf5_btree import btree_chunks
from analysis_module.processing.hdf5_chunks import ChunkSource, _header_address
from tests.support.slurm_synth import write_node_step_job, write_synthetic_job

REPO = Path(__file__).resolve().parents[2]
REPO_FILES = sorted(
    [*REPO.glob("tests/data/**/*.h5"), *REPO.glob("examples/profiles/**/*.h5")], key=str
)
ENERGY = np.dtype([("ElapsedTime", "<u8"), ("EpochTime", "<u8"), ("NodePower", "<u8")])


def tables(h5: h5py.File) -> list[h5py.Dataset]:
    names: list[str] = []
    h5.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return [h5[name] for name in names]


def h5py_index(ds: h5py.Dataset) -> tuple[list, list, list]:
    found: list = []
    ds.id.chunk_iter(found.append)
    return (
        [info.byte_offset for info in found],
        [info.size for info in found],
        [info.filter_mask for info in found],
    )


def parsed_index(path: Path, ds: h5py.Dataset):
    source = ChunkSource(str(path))
    try:
        rows = ds.chunks[0]
        n_chunks = math.ceil(ds.shape[0] / rows)
        found = btree_chunks(source.bytes(), _header_address(ds), n_chunks, rows, ds.dtype.itemsize)
        return None if found is None else tuple(part.tolist() for part in found)
    finally:
        source.close()


def assert_same_index(path: Path) -> int:
    """Every chunked table of ``path``: the parsed index equals h5py's. Returns how many."""
    with h5py.File(path, "r") as h5:
        datasets = [ds for ds in tables(h5) if ds.chunks is not None and ds.shape[0]]
        for ds in datasets:
            assert parsed_index(path, ds) == h5py_index(ds), ds.name
        return len(datasets)


@pytest.mark.parametrize("path", REPO_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_repository_table_has_h5pys_chunk_index(path: Path) -> None:
    assert assert_same_index(path) > 0


def test_synthetic_merged_and_node_step_jobs_have_h5pys_chunk_index(tmp_path: Path) -> None:
    merged = write_synthetic_job(tmp_path / "job_8.h5", n_nodes=2, tasks_per_node=3, duration_s=95)
    assert assert_same_index(merged) == 2 + 6
    for path in write_node_step_job(tmp_path / "steps", job_id=9, n_nodes=2, steps=("0", "1")):
        assert assert_same_index(path) > 0


@pytest.mark.parametrize("rows", [1, 10, 641, 20_001, 700_003])
def test_deep_trees_and_a_partial_last_chunk_have_h5pys_chunk_index(
    tmp_path: Path, rows: int
) -> None:
    """700,003 rows are 70,001 chunks: a tree three levels deep."""
    records = np.zeros(rows, dtype=ENERGY)
    records["ElapsedTime"] = np.arange(rows)
    path = tmp_path / "job_1.h5"
    with h5py.File(path, "w") as h5:
        group = h5.create_group("n1")
        for name, level in (("Energy", 0), ("Packed", 4)):
            group.create_dataset(
                name,
                data=records,
                chunks=(10,),
                maxshape=(None,),
                compression="gzip",
                compression_opts=level,
            )
    assert assert_same_index(path) == 2


def test_a_table_grown_by_appends_has_h5pys_chunk_index(tmp_path: Path) -> None:
    """slurmstepd appends record by record: chunks of several tables interleave in the file."""
    path = tmp_path / "job_1.h5"
    with h5py.File(path, "w") as h5:
        made = [
            h5.create_dataset(
                name,
                shape=(0,),
                dtype=ENERGY,
                chunks=(10,),
                maxshape=(None,),
                compression="gzip",
                compression_opts=0,
            )
            for name in ("a", "b")
        ]
        for row in range(1234):
            for ds in made:
                ds.resize((row + 1,))
                ds[row] = (row, 1_700_000_000 + row, 100)
    assert assert_same_index(path) == 2


def test_layouts_it_does_not_parse_step_aside(tmp_path: Path) -> None:
    """HDF5 1.10's layouts (version-4 layout message, other chunk indexes) and contiguous
    tables are left to h5py."""
    records = np.zeros(95, dtype=ENERGY)
    path = tmp_path / "job_1.h5"
    with h5py.File(path, "w", libver="latest") as h5:
        h5.create_dataset("fixed", data=records, chunks=(10,), compression="gzip")
        h5.create_dataset("growing", data=records, chunks=(10,), maxshape=(None,))
        h5.create_dataset("contiguous", data=records)
    with h5py.File(path, "r") as h5:
        source = ChunkSource(str(path))
        try:
            for ds in tables(h5):
                assert btree_chunks(source.bytes(), _header_address(ds), 10, 10, 24) is None
        finally:
            source.close()


def test_a_wrong_address_or_count_steps_aside(tmp_path: Path) -> None:
    path = write_synthetic_job(tmp_path / "job_8.h5", n_nodes=1, tasks_per_node=1, duration_s=95)
    with h5py.File(path, "r") as h5:
        ds = next(ds for ds in tables(h5) if ds.name.endswith("Energy"))
        source = ChunkSource(str(path))
        try:
            data, header = source.bytes(), _header_address(ds)
            size = ds.dtype.itemsize
            assert btree_chunks(data, header, 10, 10, size) is not None
            assert btree_chunks(data, header, 9, 10, size) is None  # not the table's chunks
            assert btree_chunks(data, header, 11, 10, size) is None
            assert btree_chunks(data, header, 10, 5, size) is None  # not its chunk shape
            assert btree_chunks(data, header + 8, 10, 10, size) is None
            assert btree_chunks(data, data.size + 5, 10, 10, size) is None
            assert btree_chunks(data, -1, 10, 10, size) is None
        finally:
            source.close()
