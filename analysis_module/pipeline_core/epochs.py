"""Which EpochTimes are real times: everything else is missing data, never a date.

Slurm writes EpochTime as u64 Unix seconds; the reader hands it over as int64 bits, so a
sentinel such as 2^63 or 2^64 - 1 arrives negative and 2^62 as a year far past 9999. Such a
value must not reach a timestamp column (``datetime.fromtimestamp`` raises on it, and -1 would
show as 1969-12-31) or an interval (it would integrate over centuries).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# 0 is "unset", the last representable second of year 9999 is the latest real time
FIRST_VALID_EPOCH_S = 1
LAST_VALID_EPOCH_S = 253_402_300_799  # 9999-12-31T23:59:59Z


def valid_epoch_mask(epoch_s: np.ndarray) -> np.ndarray:
    epochs = np.asarray(epoch_s, dtype=np.int64)
    return (epochs >= FIRST_VALID_EPOCH_S) & (epochs <= LAST_VALID_EPOCH_S)


def drop_invalid_times(table: pa.Table) -> tuple[pa.Table, int]:
    """``table`` without rows whose ``epoch_s`` is no real time, and how many were dropped."""
    if table.num_rows == 0:
        return table, 0
    epochs = table.column("epoch_s")
    keep = pc.and_(
        pc.greater_equal(epochs, FIRST_VALID_EPOCH_S), pc.less_equal(epochs, LAST_VALID_EPOCH_S)
    )
    n_valid = pc.sum(keep).as_py() or 0
    if n_valid == table.num_rows:
        return table, 0
    return table.filter(keep), table.num_rows - n_valid


def timestamp_or_none(epoch_s: int | None) -> datetime | None:
    """A UTC datetime for a real time; None for no value or one that is no real time."""
    if epoch_s is None or not FIRST_VALID_EPOCH_S <= epoch_s <= LAST_VALID_EPOCH_S:
        return None
    return datetime.fromtimestamp(epoch_s, tz=UTC)
