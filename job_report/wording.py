"""Numbers in the units people read: kWh, euro, kg CO2, minutes, kW."""

from __future__ import annotations

import math

JOULES_PER_KWH = 3.6e6


def _finite(value: float | None) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def format_energy(energy_j: float | None) -> str:
    """'1.25 kWh' (or Wh below 0.1 kWh, MWh above 1000 kWh)."""
    if not _finite(energy_j):
        return "-"
    kwh = energy_j / JOULES_PER_KWH
    if kwh >= 1000:
        return f"{kwh / 1000:.3g} MWh"
    if kwh >= 0.1:
        return f"{kwh:.3g} kWh"
    return f"{kwh * 1000:.3g} Wh"


def format_cost(cost_eur: float | None) -> str:
    if not _finite(cost_eur):
        return "-"
    return f"{cost_eur:.2f} EUR" if cost_eur >= 0.1 else f"{cost_eur * 100:.3g} euro cent"


def format_co2(co2_g: float | None) -> str:
    if not _finite(co2_g):
        return "-"
    return f"{co2_g / 1000:.3g} kg" if co2_g >= 1000 else f"{co2_g:.3g} g"


def format_power(power_w: float | None) -> str:
    if not _finite(power_w):
        return "-"
    return f"{power_w / 1000:.3g} kW" if power_w >= 1000 else f"{power_w:.3g} W"


def format_duration(seconds: float | None) -> str:
    """'45 s', '12 min', '3.5 h', '2.1 days'."""
    if not _finite(seconds):
        return "-"
    if seconds < 90:
        return f"{seconds:.3g} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.3g} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 86400:.3g} days"


def appliance_phrase(name: str | None, duration_s: float | None) -> str:
    """'like an oven for 10 min', from job_summary's appliance columns."""
    if not name or not _finite(duration_s):
        return "-"
    article = "an" if name[:1].lower() in "aeiou" or name.startswith("LED") else "a"
    return f"like {article} {name} for {format_duration(duration_s)}"
