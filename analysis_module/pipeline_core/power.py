"""Which Energy field is the node's power, and how raw samples become watts.

Everything here follows docs/energy-metrics.md section 1 (source order, sentinels, ceilings) and
section 2 (deduplicate by `EpochTime`). Pure numpy: the reader hands us the file's values as they
are, sentinels included, and this module decides what counts as data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NO_VAL = 4294967294
"""Slurm's NO_VAL: IPMI reports it per sensor without a valid reading (section 7)."""

_GPU_POWER = re.compile(r"^GPU(\d+)Power$")
_LABEL_POWER = re.compile(r"^\w*Power$")

# What a site may tell us about the plugin behind a bare `Power` field (see `select_power_source`).
POWER_SCOPE_BY_PLUGIN = {
    "rapl": "cpu_dram",
    "pm_counters": "node",
    "cray_aries": "node",
    "ibmaem": "node",
}


@dataclass(frozen=True)
class PowerSelection:
    """The node-level source of one node's Energy table (section 1).

    `kind` tells the caller how to get joules: "power" (integrate `power_fields[0]`),
    "gpu_sum" (sum all `power_fields` per sample, then integrate), "interval_energy" (sum
    `energy_field` directly, xcc) or "none" (no node-level source: energy stays null).
    `power_fields` are also the fields whose per-sample sum is the node power for peak power.
    """

    power_source: str | None
    energy_scope: str | None
    kind: str
    power_fields: tuple[str, ...] = ()
    energy_field: str | None = None
    component_fields: tuple[str, ...] = ()


def _gpu_fields(names: Sequence[str]) -> tuple[str, ...]:
    """GPU<i>Power fields in GPU order (numeric, so GPU10 comes after GPU2)."""
    gpus = [(int(m.group(1)), n) for n in names if (m := _GPU_POWER.match(n))]
    return tuple(name for _, name in sorted(gpus))


def select_power_source(
    field_names: Sequence[str], *, power_plugin: str | None = None
) -> PowerSelection:
    """Pick the node-level series in the order of docs/energy-metrics.md section 1.

    1. `NodePower` (IPMI `Node` label): scope "node".
    2. `Power`: the file cannot tell rapl (CPU package + DRAM) from pm_counters/ibmaem (whole
       node). Without `power_plugin` we record scope "cpu_dram": rapl is by far the most common
       plugin writing `Power`, and the narrower claim never passes a CPU+DRAM figure off as a
       whole-node one. A site running pm_counters or ibmaem says so through `power_plugin`
       ("pm_counters", "cray_aries", "ibmaem" -> "node"; "rapl" -> "cpu_dram").
    3. xcc (`Energy`, usually with `CurrPower`): scope "node"; energy is the sum of `Energy`,
       `CurrPower` is the power used for peak power.
    4. Only `GPU<i>Power`: the node energy is the sum of the GPUs, scope "gpu".
    Every other `<label>Power` (and the GPUs, unless they are the node level) is a component:
    reported separately, never added to the node series. Non-power names (`epoch_s`, ...) are
    ignored, so a table's column names can be passed as they are.
    """
    names = list(field_names)
    gpus = _gpu_fields(names)
    labelled = [n for n in names if _LABEL_POWER.match(n)]

    def components(*used: str) -> tuple[str, ...]:
        return tuple(n for n in labelled if n not in used)

    if "NodePower" in names:
        return PowerSelection(
            "NodePower", "node", "power", ("NodePower",), None, components("NodePower")
        )
    if "Power" in names:
        scope = POWER_SCOPE_BY_PLUGIN.get((power_plugin or "rapl").lower())
        if scope is None:
            raise ValueError(
                f"the file has field 'Power' (written by rapl, pm_counters or ibmaem), "
                f"but ENERGY_PLUGIN is {power_plugin!r}"
            )
        return PowerSelection("Power", scope, "power", ("Power",), None, components("Power"))
    if "Energy" in names:
        peak = ("CurrPower",) if "CurrPower" in names else ()
        return PowerSelection(
            "Energy", "node", "interval_energy", peak, "Energy", components(*peak)
        )
    if gpus:
        return PowerSelection("GPU", "gpu", "gpu_sum", gpus, None, components(*gpus))
    return PowerSelection(None, None, "none", (), None, components())


@dataclass(frozen=True, eq=False)
class CleanedSeries:
    """Watts with every non-datum as NaN, and how many of each kind were removed (section 1)."""

    watts: np.ndarray
    n_sentinel: int
    n_implausible: int
    n_nonfinite: int = 0


def sentinel_mask(values: np.ndarray) -> np.ndarray:
    """True where a value is NO_VAL or a positive multiple of it (several sensors all missing).

    Works on integer and float input alike: floats hold these integers exactly (< 2**53).
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        big = arr >= NO_VAL
        return big & (np.where(big, arr, 0) % NO_VAL == 0)
    as_float = np.asarray(arr, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        big = np.isfinite(as_float) & (as_float >= NO_VAL)
        return big & (np.fmod(np.where(big, as_float, 0.0), float(NO_VAL)) == 0.0)


def clean_power(values: np.ndarray, *, ceiling_w: float | None) -> CleanedSeries:
    """Raw Energy-field values (uint64 or float64) -> float64 watts with gaps as NaN.

    Sentinels are counted first (a NO_VAL is never also "implausible"); then negative values
    and values above the node's configured ceiling (`ceiling_w`, None = no ceiling) are
    implausible. NaN/inf already in float input are gaps too, counted in `n_nonfinite`.
    """
    arr = np.asarray(values)
    sentinel = sentinel_mask(arr)
    watts = arr.astype(np.float64, copy=True)
    nonfinite = ~np.isfinite(watts)
    with np.errstate(invalid="ignore"):
        implausible = ~sentinel & ~nonfinite & (watts < 0)
        if ceiling_w is not None:
            implausible |= ~sentinel & ~nonfinite & (watts > ceiling_w)
    watts[sentinel | implausible] = np.nan
    return CleanedSeries(
        watts=watts,
        n_sentinel=int(sentinel.sum()),
        n_implausible=int(implausible.sum()),
        n_nonfinite=int(nonfinite.sum()),
    )


def sum_power_fields(watts_per_field: Sequence[np.ndarray]) -> np.ndarray:
    """Per-sample sum of several cleaned fields (gpu-only nodes, section 1 item 4).

    A sample where any field is missing is a gap (NaN): adding the GPUs that happened to report
    would understate the node, and the integrator then skips that sample honestly.
    """
    if not watts_per_field:
        return np.empty(0, dtype=np.float64)
    return np.sum(np.vstack([np.asarray(w, dtype=np.float64) for w in watts_per_field]), axis=0)


def dedupe_by_epoch(epoch_s: np.ndarray, *columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sort by `EpochTime` and keep the first row of each epoch (section 2).

    Slurm writes two identical rows at ElapsedTime 0; when a node's steps are merged for job
    totals they record the same sensor, so the first occurrence (in the order given) wins.
    The sort is stable, so "first" means first in the caller's concatenation order.
    """
    epochs = np.asarray(epoch_s, dtype=np.int64)
    order = np.argsort(epochs, kind="stable")
    sorted_epochs = epochs[order]
    unique_epochs, first = np.unique(sorted_epochs, return_index=True)
    keep = order[first]
    return (unique_epochs, *(np.asarray(c)[keep] for c in columns))
