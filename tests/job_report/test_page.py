"""The job report page: what a reader sees, and that it is safe and self-contained."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from job_report import JobReport, render_report, warnings_of
from job_report.charts import nice_ticks, thin
from job_report.samples import cumulative_energy_and_cost, power_by_node

START = 1_700_000_000


def _samples(nodes=("n1", "n2"), steps=("batch", "0"), seconds=600, watts=100.0):
    """Every node records the same sensor in every step (as Slurm's batch and job steps do)."""
    return [
        {
            "step": step,
            "node": node,
            "epoch_s": START + t,
            "power_w": watts * (i + 1),
            "price_eur_per_mwh": 100.0,
        }
        for i, node in enumerate(nodes)
        for step in steps
        for t in range(0, seconds + 1, 10)
    ]


def _summary(**overrides):
    row = {
        "status": "ok",
        "job_id": "5",
        "has_energy": True,
        "energy_j": 180_000.0,
        "cost_eur": 0.005,
        "co2_g": 19.0,
        "coverage": 1.0,
        "time_to_solution_s": 600.0,
        "avg_power_w": 300.0,
        "peak_power_w": 300.0,
        "appliance": "LED bulb",
        "appliance_duration_s": 18000.0,
        "n_nodes": 2,
        "start_time": datetime.fromtimestamp(START, UTC),
    }
    row.update(overrides)
    return row


def _page(**kwargs) -> str:
    kwargs.setdefault("summary", _summary())
    kwargs.setdefault("samples", _samples())
    return render_report(JobReport(title="Slurm job 5", **kwargs))


def test_one_power_series_per_node_whatever_the_number_of_steps():
    html = _page()
    labels = re.findall(r'<path class="series" data-label="([^"]+)"', html)
    # the power chart has one path per node, the cumulative charts one each
    assert labels.count("n1") == 1 and labels.count("n2") == 1
    assert "energy" in labels and "cost" in labels


def test_cumulative_energy_merges_a_nodes_steps_instead_of_adding_them():
    (xs, joules), (_, euros) = cumulative_energy_and_cost(_samples())
    # 100 W + 200 W for 600 s, counted once per node although each node is in two steps
    assert xs[-1] == 600.0
    assert joules[-1] == 180_000.0
    assert abs(euros[-1] - 180_000.0 * 100.0 / 3.6e9) < 1e-12


def test_power_is_shown_against_minutes_since_the_job_started():
    series = power_by_node(_samples(seconds=60))
    assert series["n1"][0][:2] == [0.0, 10.0]
    assert set(series["n2"][1]) == {200.0}


def test_headline_uses_units_people_read():
    html = _page(summary=_summary(energy_j=7.2e6, cost_eur=1.234, co2_g=2500.0))
    assert "2 kWh" in html and "1.23 EUR" in html and "2.5 kg" in html
    assert "like an LED bulb for 5 h" in html


def test_incomplete_coverage_prices_and_left_out_files_are_warned_about():
    files = [
        {"file_name": "5_0_n1.h5", "role": "node_step", "status": "ok"},
        {"file_name": "5_0_n2.h5", "role": "node_step", "status": "failed", "error": "truncated"},
    ]
    report = JobReport(
        title="t",
        summary=_summary(coverage=0.5, cost_eur=None, cost_note="no price configured"),
        files=files,
    )
    notes = warnings_of(report)
    assert any("50%" in n and "lower bounds" in n for n in notes)
    assert any("5_0_n2.h5" in n and "truncated" in n for n in notes)
    assert any(n.startswith("No cost") for n in notes)
    assert warnings_of(JobReport(title="t", summary=_summary())) == []


def test_hostile_names_are_escaped_and_the_page_loads_nothing():
    evil = '<script>alert(1)</script>"'
    html = _page(
        summary=_summary(benchmark=evil),
        samples=_samples(nodes=(evil,)),
        files=[{"file_name": evil, "role": "single", "status": "failed", "error": evil}],
    )
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    assert not re.search(r"(src|href)\s*=", html)
    assert "default-src 'none'" in html


def test_a_job_without_samples_still_renders_its_numbers():
    html = _page(samples=[], summary=_summary(has_energy=False, energy_j=None))
    assert "no samples to plot" in html
    assert "No energy series" in html


def test_long_series_are_thinned_to_bounded_points():
    xs = list(range(100_000))
    tx, ty = thin(xs, xs, limit=800)
    assert len(tx) <= 800 and abs(ty[0] - tx[0]) < 1e-9


def test_ticks_are_round_numbers_that_cover_the_range():
    assert nice_ticks(0, 9.3) == [0, 2, 4, 6, 8, 10]
    ticks = nice_ticks(0, 0.37)
    assert ticks[0] == 0 and ticks[-1] >= 0.37 and len(ticks) <= 7


def test_work_figures_of_the_summary_are_listed():
    html = _page(
        summary=_summary(
            work_unit="GFLOP/s",
            work_value=67.6,
            gflop=6770.0,
            gflops_per_w=0.0376,
            energy_per_gflop_j=26.6,
            gflops=float("nan"),
        )
    )
    section = html.split("<h2>Figures of merit</h2>")[1].split("</table>")[0]
    assert "Figure of merit" in section and "67.6 GFLOP/s" in section
    assert "6770 GFLOP" in section and "26.6 J" in section and "0.0376" in section
    assert "GFLOP/s</th>" not in section  # NaN is not shown
    assert "Figures of merit" not in _page()  # a job without work has no such section
