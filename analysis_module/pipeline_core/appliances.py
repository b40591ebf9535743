"""The everyday comparison of a job's energy: "like a kettle for 12 minutes".

Definition: docs/energy-metrics.md section 4.

Powers are typical round figures for a European household, meant to give a feel for the size
of a number, not to be precise; the fridge is its average draw over a day (the compressor
cycles), the car charger an 11 kW wallbox. The appliance chosen is the one whose run time is
the most human-scale: closest to 10 minutes on a log scale, so 2 minutes and 50 minutes are
equally far from it, and a job never reads as "an LED bulb for 3 years" or "a kettle for 0.2
seconds" when a better fit exists. Ties go to the first appliance in the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Appliance:
    name: str
    power_w: float
    article: str = "a"


APPLIANCES: tuple[Appliance, ...] = (
    Appliance("LED bulb", 10.0, "an"),
    Appliance("laptop", 50.0),
    Appliance("TV", 100.0),
    Appliance("fridge", 150.0),
    Appliance("microwave", 1000.0),
    Appliance("kettle", 2000.0),
    Appliance("oven", 2400.0, "an"),
    Appliance("electric car charger", 11000.0, "an"),
)
TARGET_DURATION_S = 600.0
_POWER_W = np.array([a.power_w for a in APPLIANCES])


def compare_to_appliance(energy_j: float | None) -> tuple[str | None, float | None]:
    """(appliance name, seconds it would run on this energy); (None, None) without energy."""
    if energy_j is None or not math.isfinite(energy_j) or energy_j <= 0:
        return None, None
    duration_s = energy_j / _POWER_W
    best = int(np.argmin(np.abs(np.log(duration_s / TARGET_DURATION_S))))
    return APPLIANCES[best].name, float(duration_s[best])


_DURATION_UNITS = (
    ("second", 1.0, 90.0),
    ("minute", 60.0, 90 * 60.0),
    ("hour", 3600.0, 48 * 3600.0),
)


def format_duration(duration_s: float) -> str:
    """Seconds -> '45 seconds', '12 minutes', '3.5 hours', '2 days' (about 2 significant digits)."""
    unit, size_s = "day", 86400.0
    for name, size, up_to_s in _DURATION_UNITS:
        if duration_s < up_to_s:
            unit, size_s = name, size
            break
    amount = duration_s / size_s
    text = f"{amount:.2g}" if amount < 10 else str(round(amount))
    return f"{text} {unit}" + ("" if text == "1" else "s")


def describe(energy_j: float | None) -> str:
    """'like a kettle for 12 minutes', or '' when there is no energy to compare."""
    name, duration_s = compare_to_appliance(energy_j)
    if name is None or duration_s is None:
        return ""
    article = next(a.article for a in APPLIANCES if a.name == name)
    return f"like {article} {name} for {format_duration(duration_s)}"
