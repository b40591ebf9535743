"""Slurm's energy plugins (`AcctGatherEnergyType`) and what their readings mean for integration.

Definitions: docs/energy-metrics.md section 3. A site names its plugin once (ENERGY_PLUGIN);
the rule then follows the sensor's meaning unless the user picks one explicitly.
"""

from __future__ import annotations

# The plugin names as slurm.conf spells them after `acct_gather_energy/` ("none" included).
# cray_aries is pm_counters' name before Slurm 20.11.
ENERGY_PLUGINS = ("rapl", "pm_counters", "cray_aries", "ibmaem", "ipmi", "gpu", "xcc", "none")

DEFAULT_RULE = "trapezoid"

# pm_counters holds a reading for the second that follows it (left); rapl's Power is the average
# over the interval that ends at the sample (right); ipmi and gpu poll instantaneous power
# (trapezoid). xcc's Energy is summed, not integrated, so the rule only matters for other fields.
RULE_BY_PLUGIN = {
    "pm_counters": "left",
    "cray_aries": "left",
    "rapl": "right",
    "ipmi": "trapezoid",
    "gpu": "trapezoid",
}


def normalise_plugin_name(name: str) -> str:
    """`acct_gather_energy/rapl`, `RAPL` and `rapl` all mean rapl; unknown names are refused."""
    plugin = name.strip().lower().removeprefix("acct_gather_energy/")
    if plugin not in ENERGY_PLUGINS:
        raise ValueError(
            f"unknown energy plugin {name.strip()!r}; Slurm's are {', '.join(ENERGY_PLUGINS)} "
            "(see `scontrol show config | grep AcctGatherEnergyType`)"
        )
    return plugin


def rule_for_plugin(plugin: str | None) -> str:
    """The integration rule that matches the plugin's readings (trapezoid when unknown)."""
    return RULE_BY_PLUGIN.get(plugin or "", DEFAULT_RULE)
