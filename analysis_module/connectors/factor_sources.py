"""Where prices and carbon intensities come from: a flat value, a CSV/Parquet file, or SMARD.

The runner asks `FactorSources` for a job's window before it computes anything. SMARD blocks
are cached on disk: a block that is complete (no trailing nulls) never changes and is kept; the
current, still-growing block and the index are refetched once they are older than
`refresh_after_s`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from analysis_module.pipeline_core.factors import (
    SMARD_ATTRIBUTION,
    PiecewiseConstant,
    flat_tariff,
    merge_factors,
    parse_factor_csv_columns,
    parse_smard_block,
    parse_smard_index,
    smard_blocks_needed,
)

log = logging.getLogger(__name__)

QUARTERHOUR_SINCE_S = 1759276800  # 2025-10-01T00:00Z: SMARD's first quarter-hour prices


class FactorUnavailable(Exception):
    """A configured source could not give values (network down, malformed file, ...)."""


def read_factor_file(path: Path, *, value_column: str, unit: str) -> PiecewiseConstant:
    """`start,<value_column>` as CSV (or Parquet by suffix); each row holds until the next."""
    try:
        if path.suffix.lower() == ".parquet":
            table = pq.read_table(path)
        else:
            table = pacsv.read_csv(
                path,
                convert_options=pacsv.ConvertOptions(column_types={value_column: pa.float64()}),
            )
    except (OSError, pa.ArrowInvalid) as exc:
        raise FactorUnavailable(f"cannot read {path}: {exc}") from exc
    missing = {"start", value_column} - set(table.column_names)
    if missing:
        raise FactorUnavailable(f"{path} lacks column(s) {sorted(missing)}")
    try:
        return parse_factor_csv_columns(
            table.column("start"), table.column(value_column), unit=unit, source=str(path)
        )
    except (ValueError, pa.ArrowInvalid) as exc:
        raise FactorUnavailable(f"{path}: {exc}") from exc


@dataclass
class SmardClient:
    base_url: str
    cache_dir: Path
    filter_id: int
    region: str
    resolution: str  # "quarterhour" | "hour"
    refresh_after_s: float = 3600.0
    timeout_s: float = 20.0

    def _url(self, resolution: str, name: str) -> str:
        return f"{self.base_url.rstrip('/')}/{self.filter_id}/{self.region}/{name}"

    def _get_json(self, resolution: str, name: str, *, immutable: bool) -> dict:
        path = self.cache_dir / str(self.filter_id) / self.region / name
        fresh = path.exists() and (
            immutable or time.time() - path.stat().st_mtime < self.refresh_after_s
        )
        if fresh:
            return json.loads(path.read_text())
        url = self._url(resolution, name)
        try:
            response = httpx.get(url, timeout=self.timeout_s, follow_redirects=True)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            if path.exists():  # stale beats nothing; say so
                log.warning("SMARD unreachable (%s); using cached %s", exc, name)
                return json.loads(path.read_text())
            raise FactorUnavailable(f"SMARD request {url} failed: {exc}") from exc
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)
        return data

    def prices(self, start_s: int, end_s: int) -> PiecewiseConstant:
        resolution = self.resolution
        if resolution == "quarterhour" and start_s < QUARTERHOUR_SINCE_S:
            resolution = "hour"  # SMARD publishes quarter-hours only from 2025-10-01 on
        index = parse_smard_index(
            self._get_json(resolution, f"index_{resolution}.json", immutable=False)
        )
        blocks = []
        for block_ms in smard_blocks_needed(index, start_s, end_s):
            name = f"{self.filter_id}_{self.region}_{resolution}_{block_ms}.json"
            newest = block_ms == int(index.max())
            data = self._get_json(resolution, name, immutable=not newest)
            blocks.append(
                parse_smard_block(
                    data,
                    resolution=resolution,
                    source=f"SMARD filter {self.filter_id} {self.region} ({SMARD_ATTRIBUTION})",
                )
            )
        if not blocks:
            raise FactorUnavailable(f"SMARD has no {resolution} block before {start_s}")
        return merge_factors(blocks)


class FactorSources:
    """Price and carbon intensity for a time window (None when unset), from CLI flags or
    settings."""

    def __init__(
        self,
        *,
        flat_price_eur_per_kwh: float | None = None,
        price_file: Path | None = None,
        smard: SmardClient | None = None,
        carbon_file: Path | None = None,
        carbon_g_per_kwh: float | None = None,
    ):
        self._price: PiecewiseConstant | None = None
        self._smard = smard
        if flat_price_eur_per_kwh is not None:
            self._price = flat_tariff(flat_price_eur_per_kwh, source="flat tariff")
        elif price_file is not None:
            self._price = read_factor_file(
                price_file, value_column="price_eur_per_mwh", unit="EUR/MWh"
            )
        self._carbon: PiecewiseConstant | None = None
        if carbon_file is not None:
            self._carbon = read_factor_file(
                carbon_file, value_column="carbon_g_per_kwh", unit="g/kWh"
            )
        elif carbon_g_per_kwh is not None:
            self._carbon = PiecewiseConstant.constant(
                carbon_g_per_kwh, unit="g/kWh", source="constant carbon intensity"
            )

    def price(self, start_s: int, end_s: int) -> PiecewiseConstant | None:
        if self._smard is None:
            return self._price
        try:
            return self._smard.prices(start_s, end_s)
        except FactorUnavailable as exc:
            log.warning("no market prices: %s", exc)
            return _unknown("EUR/MWh", str(exc))

    def carbon(self, start_s: int, end_s: int) -> PiecewiseConstant | None:
        return self._carbon


def _unknown(unit: str, why: str) -> PiecewiseConstant:
    """A factor with no known values: the cost becomes null with `why` as its reason."""
    return PiecewiseConstant.constant(float("nan"), unit=unit, source=f"unavailable: {why}")
