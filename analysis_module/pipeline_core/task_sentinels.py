"""Values in Slurm's Tasks records that are not measurements (docs/energy-metrics.md section 7).

Slurm marks a missing value with NO_VAL (or NO_VAL64, INFINITE...), and leaves GPU fields
uninitialised when it does not track GPUs (and GPUMemMB on each task's first record). Such a
value becomes NaN here, and is counted, so that no published column ever carries it.
"""

from __future__ import annotations

import numpy as np

NO_VAL = 4_294_967_294  # 0xfffffffe
INFINITE = 4_294_967_295  # 0xffffffff
NO_VAL64 = 0xFFFF_FFFF_FFFF_FFFE
ALL_ONES_MIN_BITS = 32  # 2^k - 1 for k >= 32: an all-ones bit pattern, never a measurement

MAX_GPUS_PER_NODE = 64
MAX_NODE_MEMORY_MIB = 2.0**34  # 16 TiB
MAX_PROCESS_ADDRESS_SPACE_KIB = 2.0**37  # 128 TiB: x86-64's user address space
MAX_CORES_PER_NODE = 2048
MAX_CPU_FREQUENCY_MHZ = 10_000.0

# Plausible ceilings by column (in the reader's units); above them a value is impossible.
_CEILINGS = {
    "gpu_util_pct": 100.0 * MAX_GPUS_PER_NODE,
    "gpu_mem_mib": MAX_NODE_MEMORY_MIB,
    "cpu_util_pct": 100.0 * MAX_CORES_PER_NODE,
    "rss_kib": MAX_NODE_MEMORY_MIB * 1024.0,
    "vmsize_kib": MAX_PROCESS_ADDRESS_SPACE_KIB,
}
GPU_COLUMNS = ("gpu_util_pct", "gpu_mem_mib")


def _integer_sentinels(values: np.ndarray) -> np.ndarray:
    """NO_VAL and its multiples, and all-ones patterns (INFINITE, NO_VAL64's neighbour...)."""
    as_u64 = values.astype(np.uint64)
    bad = as_u64 >= NO_VAL  # every sentinel is at least NO_VAL: test only those (rarely any)
    candidates = np.flatnonzero(bad)
    if candidates.size:
        big = as_u64[candidates]
        multiple_of_no_val = big % np.uint64(NO_VAL) == 0
        plus_one = big + np.uint64(1)  # 2^64 - 1 wraps to 0, itself all ones
        all_ones = (big >= INFINITE) & ((plus_one & big) == 0)
        bad[candidates] = multiple_of_no_val | all_ones | (big == NO_VAL64)
    return bad


def _float_sentinels(values: np.ndarray) -> np.ndarray:
    """Non-finite values, u64 sentinels rounded to a double (2^64), NO_VAL multiples, and
    subnormals: the integer bits Slurm 23.02.0-.3 stored in GPUUtilization's double."""
    magnitude = np.abs(values)
    bad = ~np.isfinite(values) | (values >= 2.0**63)
    bad |= (magnitude > 0) & (magnitude < np.finfo(np.float64).tiny)
    candidates = np.flatnonzero((values >= NO_VAL) & (values < 2.0**63))
    if candidates.size:  # whole numbers at least NO_VAL: an integer sentinel as a double?
        big = values[candidates]
        whole = big == np.floor(big)
        exact = np.where(whole, big, 0.0).astype(np.uint64)
        bad[candidates] |= whole & _integer_sentinels(exact) & (exact > 0)
    return bad


def sentinel_mask(name: str, values: np.ndarray, *, frequency_scale: float = 1.0) -> np.ndarray:
    """True where `values` of column `name` (in the file's type) are not measurements.

    `frequency_scale` turns CPUFrequency into MHz (1000 for kHz from sysfs)."""
    if np.issubdtype(values.dtype, np.integer):
        bad = _integer_sentinels(values)
        as_float = values.astype(np.float64)
    else:
        as_float = values.astype(np.float64, copy=False)
        bad = _float_sentinels(as_float) | np.isnan(as_float)
    bad |= as_float < 0  # negative gauges and negative deltas alike
    ceiling = _CEILINGS.get(name)
    if name == "cpu_frequency":
        ceiling = MAX_CPU_FREQUENCY_MHZ * frequency_scale
    if ceiling is not None:
        bad |= as_float > ceiling
    return bad


def cleaned(name: str, values: np.ndarray, *, frequency_scale: float = 1.0):
    """`values` as float64 with non-measurements NaN, and how many there were (NaNs in the
    input, i.e. nulls in the file, are not counted)."""
    as_float = values.astype(np.float64)
    bad = sentinel_mask(name, values, frequency_scale=frequency_scale)
    counted = int(np.count_nonzero(bad & ~np.isnan(as_float)))
    as_float[bad] = np.nan
    return as_float, counted


def untracked_gpu(values: np.ndarray) -> bool:
    """A task's GPU series whose every record after the first is missing: the node does not
    track that GPU field, and the first record's 0 is no measurement either."""
    return len(values) > 1 and bool(np.all(np.isnan(values[1:])))
