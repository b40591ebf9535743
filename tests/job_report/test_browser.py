"""The report in a real browser (Chromium, headless): it renders, loads nothing, logs nothing."""

from __future__ import annotations

from job_report import JobReport, render_report
from tests.job_report.test_page import _samples, _summary
from tests.support.browser import load_page


def test_the_browser_harness_sees_what_a_page_does_wrong(tmp_path):
    """The console check can fail: a page that fetches and scripts is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        'content="default-src \'none\'"></head><body><img src="http://127.0.0.1:9/x.png">'
        "<script>console.error('boom')</script></body></html>"
    )
    loaded = load_page(bad.as_uri(), tmp_path / "bad.png")
    assert any("Content Security Policy" in line for line in loaded.console)


def test_a_report_file_renders_offline_with_one_series_per_node(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(
        render_report(
            JobReport(
                title="Slurm job 5",
                summary=_summary(),
                samples=_samples(nodes=("n1", "n2", "n3")),
            )
        )
    )
    loaded = load_page(page.as_uri(), tmp_path / "report.png")
    assert loaded.console == []
    power_chart = loaded.dom.split('id="power-per-node"')[1].split("</svg>")[0]
    assert power_chart.count('class="series"') == 3
    assert loaded.screenshot.stat().st_size > 10_000
