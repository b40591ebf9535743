"""Units of energy: how many joules make the unit that a price or a carbon factor is per."""

from __future__ import annotations

JOULES_PER_KWH = 3.6e6
JOULES_PER_MWH = 3.6e9
JOULES_PER_UNIT = {"EUR/MWh": JOULES_PER_MWH, "g/kWh": JOULES_PER_KWH, "EUR/kWh": JOULES_PER_KWH}
"""Energy denominator of each known factor unit: guards against a factor-1000 unit error
(joules divided by 3.6e6 against a price per MWh)."""
