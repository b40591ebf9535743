"""A corpus of hostile Slurm profiles, generated in seconds into a folder.

Each ``case_*`` function writes one file that attacks the reader through one HDF5 route (host
files read through external storage or links, decompression bombs, sizes no data backs,
poisoning values, malformed types) and returns what a user must see for it: ``failed`` with a
phrase of the reason, or ``ok`` (values that are missing data, not an error). Files named
``NN_*.h5`` sort before ``zz_valid.h5``, a copy of a real profile, so the batch CLI meets the
valid file after every hostile one. Host "secrets" live outside the corpus folder and hold
``SECRET_MARKER``, which must appear in no output.

``python -m tests.support.hostile_profiles DIR`` writes the corpus for manual runs.
"""

from __future__ import annotations

import shutil
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from tests.support.slurm_synth import (
    NodeSpec,
    StepSpec,
    TaskSeries,
    write_int_attr,
    write_job_file,
    write_node_attrs,
)

SECRET_MARKER = "HOSTILE-SECRET-5f1c9e"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "profiles"
ENERGY_DTYPE = np.dtype([("ElapsedTime", "<u8"), ("EpochTime", "<u8"), ("NodePower", "<u8")])
START_S = 1_700_000_000
NO_VAL = 4294967294


@dataclass(frozen=True)
class Expected:
    status: str  # "ok" | "failed"
    phrase: str  # in the error (failed) or a note (ok); "" when nothing to check
    energy_j: float | None = None  # for "ok": the energy a user must see (None = null)


def _energy_rows(epochs, watts) -> np.ndarray:
    rows = np.zeros(len(epochs), dtype=ENERGY_DTYPE)
    rows["EpochTime"] = np.asarray(epochs, dtype=np.uint64)
    rows["ElapsedTime"] = rows["EpochTime"] - np.uint64(START_S)
    rows["NodePower"] = watts
    return rows


def _skeleton(path: Path, node: str = "n1") -> tuple[h5py.File, h5py.Group]:
    """A merged job file up to /Steps/0/Nodes/<node>, with Slurm's node attributes."""
    h5 = h5py.File(path, "w")
    write_int_attr(h5, "Number of Steps", 1)
    group = h5.create_group(f"Steps/0/Nodes/{node}")
    write_node_attrs(group, NodeSpec(node, start_epoch=START_S))
    return h5, group


def _one_node(path: Path, epochs, energy: dict, tasks=None) -> None:
    node = NodeSpec("n1", 0, START_S, energy=energy, energy_epochs=np.asarray(epochs), tasks=tasks)
    write_job_file(path, job_id=path.stem.split("_")[-1], steps=[StepSpec("0", [node])])


def _secret_file(secrets: Path) -> Path:
    secret = secrets / "host_secret.txt"
    if not secret.exists():
        secret.write_text(f"MINIO_SECRET_KEY={SECRET_MARKER}\n" * 64)
    return secret


def case_external_storage_secret(folder: Path, secrets: Path) -> Expected:
    secret = _secret_file(secrets)
    size = secret.stat().st_size
    h5, group = _skeleton(folder / "01_external_secret.h5")
    with h5:
        group.create_dataset(
            "Energy", shape=(size // ENERGY_DTYPE.itemsize,), dtype=ENERGY_DTYPE,
            external=[(str(secret), 0, size)],
        )  # fmt: skip
    return Expected("failed", "external storage")


def case_external_storage_passwd(folder: Path, secrets: Path) -> Expected:
    size = Path("/etc/passwd").stat().st_size
    h5, group = _skeleton(folder / "02_external_passwd.h5")
    with h5:
        group.create_dataset(
            "Energy", shape=(max(size // ENERGY_DTYPE.itemsize, 1),), dtype=ENERGY_DTYPE,
            external=[("/etc/passwd", 0, size)],
        )  # fmt: skip
    return Expected("failed", "external storage")


def case_external_link(folder: Path, secrets: Path) -> Expected:
    other = secrets / "job_4.h5"  # another user's valid profile, outside the corpus folder
    shutil.copy(EXAMPLES / "job_4.h5", other)
    with h5py.File(folder / "03_external_link.h5", "w") as h5:
        write_int_attr(h5, "Number of Steps", 1)
        h5.create_group("Steps/0/Nodes")
        h5["Steps/0/Nodes/vm"] = h5py.ExternalLink(str(other), "/Steps/0/Nodes/vm")
    return Expected("failed", "external link")


def case_soft_link_out_of_tree(folder: Path, secrets: Path) -> Expected:
    h5, group = _skeleton(folder / "04_soft_link.h5")
    with h5:
        h5.create_dataset("Elsewhere/Energy", data=_energy_rows([START_S, START_S + 1], 100))
        group["Energy"] = h5py.SoftLink("/Elsewhere/Energy")
    return Expected("failed", "soft link")


def case_virtual_dataset(folder: Path, secrets: Path) -> Expected:
    source = secrets / "vds_source.h5"
    with h5py.File(source, "w") as h5:
        h5.create_dataset("data", data=_energy_rows(np.arange(START_S, START_S + 20), 250))
    layout = h5py.VirtualLayout(shape=(20,), dtype=ENERGY_DTYPE)
    layout[:] = h5py.VirtualSource(str(source), "data", shape=(20,))
    h5, group = _skeleton(folder / "05_virtual.h5")
    with h5:
        group.create_virtual_dataset("Energy", layout)
    return Expected("failed", "virtual dataset")


def case_huge_declared_rows(folder: Path, secrets: Path) -> Expected:
    """10^7 rows declared, 20 written: HDF5 would serve fill values for the rest."""
    h5, group = _skeleton(folder / "06_huge_declared.h5")
    with h5:
        ds = group.create_dataset(
            "Energy", data=_energy_rows(np.arange(START_S, START_S + 20), 100),
            chunks=(10,), maxshape=(None,), compression="gzip", compression_opts=0,
        )  # fmt: skip
        ds.resize((10**7,))
    return Expected("failed", "declares")


def case_gzip_bomb(folder: Path, secrets: Path) -> Expected:
    """3 GiB of zeros in ~3 MB: the same deflated 64 MiB chunk written 48 times."""
    chunk_rows = 64 * 1024**2 // ENERGY_DTYPE.itemsize
    n_chunks = 48
    deflated = zlib.compress(bytes(chunk_rows * ENERGY_DTYPE.itemsize), 9)
    h5, group = _skeleton(folder / "07_gzip_bomb.h5")
    with h5:
        ds = group.create_dataset(
            "Energy", shape=(chunk_rows * n_chunks,), dtype=ENERGY_DTYPE,
            chunks=(chunk_rows,), compression="gzip",
        )  # fmt: skip
        for index in range(n_chunks):
            ds.id.write_direct_chunk((index * chunk_rows,), deflated)
    return Expected("failed", "declares")


def _epoch_case(name: str, bad_epoch: int) -> Callable[[Path, Path], Expected]:
    """10 samples at 200 W one second apart (1800 J), plus rows at an impossible time."""

    def case(folder: Path, secrets: Path) -> Expected:
        epochs = np.arange(START_S, START_S + 10, dtype=np.uint64)
        bad = np.full(3, bad_epoch, dtype=np.uint64)
        ranks = {0: TaskSeries(np.concatenate([epochs, bad]).view(np.int64))}
        watts = np.full(13, 200, dtype=np.uint64)
        _one_node(folder / name, np.concatenate([epochs, bad]).view(np.int64),
                  {"NodePower": watts}, tasks=ranks)  # fmt: skip
        return Expected("ok", "", energy_j=1800.0)

    case.__name__ = f"case_{name[:-3]}"
    return case


case_epoch_2_62 = _epoch_case("08_epoch_2_62.h5", 2**62)
case_epoch_2_63 = _epoch_case("09_epoch_2_63.h5", 2**63)
case_epoch_u64_max = _epoch_case("10_epoch_u64_max.h5", 2**64 - 1)
case_epoch_year_10000 = _epoch_case("11_epoch_year_10000.h5", 253_402_300_800)


def _typed_energy_case(name: str, dtype: list, phrase: str) -> Callable[[Path, Path], Expected]:
    def case(folder: Path, secrets: Path) -> Expected:
        rows = np.zeros(4, dtype=dtype)
        h5, group = _skeleton(folder / name)
        with h5:
            group.create_dataset("Energy", data=rows, chunks=(10,), maxshape=(None,))
        return Expected("failed", phrase)

    case.__name__ = f"case_{name[:-3]}"
    return case


case_string_epoch = _typed_energy_case(
    "12_string_epoch.h5",
    [("ElapsedTime", "<u8"), ("EpochTime", "S8"), ("NodePower", "<u8")],
    "EpochTime is stored as a string",
)
case_int8_power = _typed_energy_case(
    "13_int8_power.h5",
    [("ElapsedTime", "<u8"), ("EpochTime", "<u8"), ("NodePower", "i1")],
    "NodePower is stored as a 8-bit signed integer",
)
case_nested_compound = _typed_energy_case(
    "14_nested_compound.h5",
    [("ElapsedTime", "<u8"), ("EpochTime", "<u8"), ("NodePower", [("a", "<u8"), ("b", "<u8")])],
    "NodePower is stored as a nested compound",
)


def case_not_a_compound(folder: Path, secrets: Path) -> Expected:
    h5, group = _skeleton(folder / "15_not_compound.h5")
    with h5:
        group.create_dataset("Energy", data=np.arange(30, dtype=np.uint64).reshape(10, 3))
    return Expected("failed", "not a 1-D compound series table")


def case_non_utf8_node_name(folder: Path, secrets: Path) -> Expected:
    with h5py.File(folder / "16_non_utf8_name.h5", "w") as h5:
        write_int_attr(h5, "Number of Steps", 1)
        nodes = h5.create_group("Steps/0/Nodes")
        group = nodes.create_group(b"n\xff\xfe1")
        group.create_dataset("Energy", data=_energy_rows([START_S, START_S + 1], 100))
    return Expected("failed", "not valid UTF-8")


def case_foreign_filter(folder: Path, secrets: Path) -> Expected:
    h5, group = _skeleton(folder / "17_lzf_filter.h5")
    with h5:
        group.create_dataset(
            "Energy", data=_energy_rows([START_S, START_S + 1], 100), chunks=(10,),
            maxshape=(None,), compression="lzf",
        )  # fmt: skip
    return Expected("failed", "filter 32000")


def case_hard_linked_twice(folder: Path, secrets: Path) -> Expected:
    """One node group linked as two nodes: its energy would count twice."""
    h5, group = _skeleton(folder / "18_hard_linked_twice.h5")
    with h5:
        group.create_dataset("Energy", data=_energy_rows([START_S, START_S + 1], 100))
        h5["Steps/0/Nodes/n2"] = group
    return Expected("failed", "reachable through 2 links")


def case_no_valid_power(folder: Path, secrets: Path) -> Expected:
    epochs = np.arange(START_S, START_S + 10)
    _one_node(folder / "19_no_valid_power.h5", epochs, {"NodePower": np.full(10, NO_VAL, "u8")})
    return Expected("ok", "no interval between two valid power samples", energy_j=None)


def case_samples_1e9_s_apart(folder: Path, secrets: Path) -> Expected:
    epochs = START_S + np.arange(3) * 10**9
    _one_node(folder / "20_samples_1e9_apart.h5", epochs, {"NodePower": np.full(3, 100, "u8")})
    return Expected("ok", "no interval between two valid power samples", energy_j=None)


def case_many_tiny_nodes(folder: Path, secrets: Path, n_nodes: int = 20_000) -> Expected:
    """20,000 nodes of two samples each (30 MB in the original report)."""
    rows = _energy_rows([START_S, START_S + 1], 100)
    with h5py.File(folder / "21_many_nodes.h5", "w", libver="latest") as h5:
        write_int_attr(h5, "Number of Steps", 1)
        nodes = h5.create_group("Steps/0/Nodes")
        for index in range(n_nodes):
            nodes.create_group(f"n{index}").create_dataset("Energy", data=rows)
    return Expected("ok", "", energy_j=100.0 * n_nodes)


TASK_DTYPE = np.dtype(
    [("ElapsedTime", "<u8"), ("EpochTime", "<u8")]
    + [(name, "<u8") for name in ("CPUFrequency", "RSS", "VMSize", "Pages")]
    + [(name, "<f8") for name in ("CPUTime", "CPUUtilization", "ReadMB", "WriteMB")]
)
DEFAULT_MAX_SERIES_ROWS = 1_600_000  # PROFILE_MAX_SERIES_ROWS's default


def backed_dataset(group: h5py.Group, name: str, dtype: np.dtype, n_rows: int) -> None:
    """``n_rows`` declared and backed by stored chunks at ~32x compression, written in a blink.

    Every chunk is the same deflate stream (1/32 random bytes, the rest zeros), so the file
    passes the allocation and expansion checks and only a row limit can refuse it.
    """
    chunk_rows = 1 << 16
    raw = np.zeros(chunk_rows * dtype.itemsize, dtype=np.uint8)
    raw[: raw.size // 32] = np.random.default_rng(14).integers(0, 256, raw.size // 32)
    deflated = zlib.compress(raw.tobytes(), 1)
    ds = group.create_dataset(
        name, shape=(n_rows,), dtype=dtype, chunks=(chunk_rows,), compression="gzip"
    )
    for first in range(0, n_rows, chunk_rows):
        ds.id.write_direct_chunk((first,), deflated)


def case_energy_over_row_limit(folder: Path, secrets: Path) -> Expected:
    """One Energy table of 1.6 M + 1 rows (~1.2 MB of file): past the memory bound."""
    h5, group = _skeleton(folder / "22_energy_rows.h5")
    with h5:
        backed_dataset(group, "Energy", ENERGY_DTYPE, DEFAULT_MAX_SERIES_ROWS + 1)
    return Expected("failed", "PROFILE_MAX_SERIES_ROWS")


def case_node_tasks_over_row_limit(folder: Path, secrets: Path) -> Expected:
    """16 tasks of 100,001 rows: each small, together one table past the memory bound."""
    h5, group = _skeleton(folder / "23_node_tasks_rows.h5")
    with h5:
        for rank in range(16):
            backed_dataset(group, f"Tasks/{rank}", TASK_DTYPE, DEFAULT_MAX_SERIES_ROWS // 16 + 1)
    return Expected("failed", "PROFILE_MAX_SERIES_ROWS")


DEFAULT_MAX_ENERGY_TABLE_BYTES = 128 * 1024**2  # PROFILE_MAX_ENERGY_TABLE_BYTES's default
DEFAULT_MAX_ENERGY_BYTES = 640 * 1024**2  # PROFILE_MAX_ENERGY_BYTES's default
WIDE_ENERGY_DTYPE = np.dtype(ENERGY_DTYPE.descr + [(f"L{i}Power", "<u8") for i in range(125)])


def case_wide_energy_records(folder: Path, secrets: Path) -> Expected:
    """1 KB Energy records (126 power members), 140,000 rows: few rows, 134 MiB to read."""
    h5, group = _skeleton(folder / "24_wide_energy.h5")
    with h5:
        backed_dataset(group, "Energy", WIDE_ENERGY_DTYPE, 140_000)
    return Expected("failed", "PROFILE_MAX_ENERGY_TABLE_BYTES")


def case_energy_across_nodes(folder: Path, secrets: Path) -> Expected:
    """5 nodes, each Energy just under the row bound: kept together, past the Energy bound."""
    with h5py.File(folder / "25_energy_nodes.h5", "w") as h5:
        write_int_attr(h5, "Number of Steps", 1)
        for index in range(5):
            group = h5.create_group(f"Steps/0/Nodes/n{index}")
            write_node_attrs(group, NodeSpec(f"n{index}", index, START_S))
            backed_dataset(group, "Energy", ENERGY_DTYPE, DEFAULT_MAX_SERIES_ROWS - 1)
    return Expected("failed", "PROFILE_MAX_ENERGY_BYTES")


CASES: tuple[Callable[..., Expected], ...] = (
    case_external_storage_secret,
    case_external_storage_passwd,
    case_external_link,
    case_soft_link_out_of_tree,
    case_virtual_dataset,
    case_huge_declared_rows,
    case_gzip_bomb,
    case_epoch_2_62,
    case_epoch_2_63,
    case_epoch_u64_max,
    case_epoch_year_10000,
    case_string_epoch,
    case_int8_power,
    case_nested_compound,
    case_not_a_compound,
    case_non_utf8_node_name,
    case_foreign_filter,
    case_hard_linked_twice,
    case_no_valid_power,
    case_samples_1e9_s_apart,
    case_many_tiny_nodes,
    case_energy_over_row_limit,
    case_node_tasks_over_row_limit,
    case_wide_energy_records,
    case_energy_across_nodes,
)
VALID_NAME = "zz_valid.h5"
VALID_ENERGY_J = 3200.0  # examples/profiles/job_5.h5, as its real-sample test states


def write_corpus(folder: Path, secrets: Path, *, n_tiny_nodes: int = 20_000) -> dict[str, Expected]:
    """Every case into ``folder`` (host files into ``secrets``), then the valid profile last.

    Returns the expectation by file name; the valid file expects ``ok``. ``n_tiny_nodes``
    sizes the many-nodes case (CI uses fewer than the report's 20,000).
    """
    folder.mkdir(parents=True, exist_ok=True)
    secrets.mkdir(parents=True, exist_ok=True)
    before = set(folder.iterdir())
    expected = {}
    for case in CASES:
        if case is case_many_tiny_nodes:
            outcome = case(folder, secrets, n_nodes=n_tiny_nodes)
        else:
            outcome = case(folder, secrets)
        (new,) = set(folder.iterdir()) - before
        before.add(new)
        expected[new.name] = outcome
    shutil.copy(EXAMPLES / "job_5.h5", folder / VALID_NAME)
    expected[VALID_NAME] = Expected("ok", "", energy_j=VALID_ENERGY_J)
    return expected


if __name__ == "__main__":
    target = Path(sys.argv[1])
    for name, outcome in write_corpus(target / "corpus", target / "host").items():
        print(f"{name}: {outcome.status} {outcome.phrase}")
