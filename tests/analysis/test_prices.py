"""Cost and CO2 against time-varying factors: SMARD blocks from a local server, CSV files."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from analysis_module.app.runner import FactorOptions, build_runner
from analysis_module.connectors.factor_sources import FactorUnavailable
from analysis_module.settings import AnalysisSettings
from tests.analysis.conftest import one_node_job

QUARTER_S = 900
BLOCK_A_MS = 1794783600000  # 2026-11-15T23:00Z, Monday 00:00 in Berlin
BLOCK_B_MS = BLOCK_A_MS + 7 * 86400 * 1000
LAST_PRICE_S = 1795903200  # 2026-11-28T22:00Z: later quarters of the week are still null


def price_at(t_s: int) -> float:
    """The recorded price of the quarter-hour containing t_s (EUR/MWh)."""
    return 80.0 + ((t_s // QUARTER_S) % 8) * 10.0 - (250.0 if (t_s // QUARTER_S) % 13 == 0 else 0)


def smard_block(start_ms: int) -> dict:
    series = []
    for k in range(7 * 96):
        t_s = start_ms // 1000 + k * QUARTER_S
        series.append([t_s * 1000, price_at(t_s) if t_s < LAST_PRICE_S else None])
    return {"meta_data": {"version": 1, "created": 0}, "series": series}


@pytest.fixture
def smard_server(tmp_path):
    """SMARD's chart_data layout, served from a folder on 127.0.0.1; counts requests."""
    root = tmp_path / "smard"
    folder = root / "4169" / "DE-LU"
    folder.mkdir(parents=True)
    (folder / "index_quarterhour.json").write_text(
        json.dumps({"timestamps": [BLOCK_A_MS, BLOCK_B_MS]})
    )
    for ms in (BLOCK_A_MS, BLOCK_B_MS):
        (folder / f"4169_DE-LU_quarterhour_{ms}.json").write_text(json.dumps(smard_block(ms)))
    hits: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            hits.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits, server
    server.shutdown()


def smard_runner(tmp_path: Path, base_url: str, env: dict | None = None, **extra):
    settings = AnalysisSettings(
        DUCKDB_PATH=tmp_path / "r.duckdb",
        SMARD_BASE_URL=base_url,
        SMARD_CACHE_DIR=tmp_path / "cache",
        INTEGRATION_RULE="left",
        **(env or {}),
    )
    return build_runner(settings, factor_options=FactorOptions(fetch_price=True, **extra))


def flat_job(tmp_path: Path, start_s: int, seconds: int, watts: int = 1000) -> Path:
    t = start_s + np.arange(seconds + 1, dtype=np.int64)
    return one_node_job(
        tmp_path / f"job_{start_s}.h5",
        epochs=t,
        energy={"NodePower": np.full(len(t), watts, np.uint64)},
    )


def test_smard_cost_splits_intervals_at_quarter_hours(tmp_path, smard_server):
    base_url, hits, _ = smard_server
    start = 1795898400 + 600  # 20:50Z..21:20Z: 10 min, a whole quarter, then 5 min
    path = flat_job(tmp_path, start, 1800)
    runner = smard_runner(tmp_path, base_url)
    s = runner.analyse_file(path, source="j").summary
    runner.close()
    expected = sum(
        1000 * seconds / 3.6e9 * price_at(q)
        for q, seconds in ((start, 600), (start + 600, 900), (start + 1500, 300))
    )
    assert s["energy_j"] == pytest.approx(1000 * 1800)
    assert s["cost_eur"] == pytest.approx(expected)
    assert "SMARD" in s["price_source"] and "Bundesnetzagentur" in s["price_source"]
    assert any("4169_DE-LU_quarterhour_" in h for h in hits)


def test_the_smard_series_is_the_one_the_settings_name(tmp_path, smard_server):
    base_url, hits, _ = smard_server
    default = tmp_path / "smard" / "4169" / "DE-LU"
    other = tmp_path / "smard" / "4170" / "AT"
    other.mkdir(parents=True)
    (other / "index_hour.json").write_text((default / "index_quarterhour.json").read_text())
    for ms in (BLOCK_A_MS, BLOCK_B_MS):
        block = json.loads((default / f"4169_DE-LU_quarterhour_{ms}.json").read_text())
        block["series"] = block["series"][::4]  # the hour's first quarter as the hour's price
        (other / f"4170_AT_hour_{ms}.json").write_text(json.dumps(block))
    start = 1795896000  # 20:00Z, one hour at the price of its first quarter
    path = flat_job(tmp_path, start, 3600)
    env = {"SMARD_FILTER_ID": "4170", "SMARD_REGION": "AT", "SMARD_RESOLUTION": "hour"}
    runner = smard_runner(tmp_path, base_url, env)
    s = runner.analyse_file(path, source="j").summary
    runner.close()
    assert s["cost_eur"] == pytest.approx(1000 * 3600 / 3.6e9 * price_at(start))
    assert "SMARD filter 4170 AT" in s["price_source"]
    assert hits and all(h.startswith("/4170/AT/") for h in hits)


def test_negative_prices_reduce_cost(tmp_path, smard_server):
    base_url, _, _ = smard_server
    quarter = next(q for q in range(1795000000 // 900, 1795900000 // 900) if q % 13 == 0) * 900
    path = flat_job(tmp_path, quarter, 900)
    runner = smard_runner(tmp_path, base_url)
    s = runner.analyse_file(path, source="neg").summary
    runner.close()
    assert price_at(quarter) < 0
    assert s["cost_eur"] == pytest.approx(1000 * 900 / 3.6e9 * price_at(quarter))


def test_no_price_yet_gives_null_cost_with_reason(tmp_path, smard_server):
    base_url, _, _ = smard_server
    path = flat_job(tmp_path, LAST_PRICE_S + 1800, 600)  # the block's trailing nulls
    runner = smard_runner(tmp_path, base_url)
    s = runner.analyse_file(path, source="future").summary
    runner.close()
    assert s["energy_j"] == pytest.approx(600_000)
    assert s["cost_eur"] is None
    assert "no price" in s["cost_note"]


def test_blocks_are_cached_on_disk(tmp_path, smard_server):
    base_url, _, server = smard_server
    path = flat_job(tmp_path, 1795898400, 300)
    first = smard_runner(tmp_path, base_url)
    cost = first.analyse_file(path, source="a").summary["cost_eur"]
    first.close()
    server.shutdown()  # SMARD is gone: the cached blocks must still price the job
    again = smard_runner(tmp_path, base_url)
    assert again.analyse_file(path, source="a").summary["cost_eur"] == pytest.approx(cost)
    again.close()
    assert cost is not None


def test_price_and_carbon_files(tmp_path):
    (tmp_path / "prices.csv").write_text(
        "start,price_eur_per_mwh\n"
        "2026-11-28T20:00:00Z,100\n"
        "2026-11-28T21:00:00+01:00,250\n"  # 21:00 in Berlin is 20:00Z: a second value
        "2026-11-28T21:00:00Z,300\n"
        "2026-11-28T22:00:00Z,300\n"
    )
    (tmp_path / "carbon.csv").write_text(
        "start,carbon_g_per_kwh\n1795896000,400\n1795899600,200\n1795903200,200\n"
    )
    path = flat_job(tmp_path, 1795899600 - 1800, 3600)  # 20:30Z..21:30Z
    settings = AnalysisSettings(DUCKDB_PATH=tmp_path / "r.duckdb", INTEGRATION_RULE="left")
    with pytest.raises(FactorUnavailable, match="two factor values for one start time"):
        build_runner(settings, factor_options=FactorOptions(price_file=tmp_path / "prices.csv"))
    (tmp_path / "prices.csv").write_text(
        "start,price_eur_per_mwh\n2026-11-28T20:00:00Z,100\n"
        "2026-11-28T21:00:00Z,300\n2026-11-28T22:00:00Z,300\n"
    )
    runner = build_runner(
        settings,
        factor_options=FactorOptions(
            price_file=tmp_path / "prices.csv", carbon_file=tmp_path / "carbon.csv"
        ),
    )
    s = runner.analyse_file(path, source="files").summary
    runner.close()
    half_kwh = 1000 * 1800 / 3.6e6
    assert s["cost_eur"] == pytest.approx(half_kwh / 1000 * 100 + half_kwh / 1000 * 300)
    assert s["co2_g"] == pytest.approx(half_kwh * 400 + half_kwh * 200)
