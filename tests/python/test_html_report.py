"""The HTML report renders in a real browser: headless Chromium (Debian's `chromium`) loads
the file written by `cutover demo --format html`, runs its layout, and the page's own script
reports which charts it laid out with a non-empty box."""

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from conftest import BIN

CHARTS = ["timeline", "sli", "latency", "gaps", "budget"]


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("chromium is not installed (scripts/test.sh installs Debian's chromium)")


def test_html_report_renders_every_chart_in_headless_chromium():
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "data"
        out = subprocess.run([BIN, "demo", "--seed", "3", "--data-dir", str(data), "--format", "html"],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        html = out.stdout
        assert html.startswith("<!DOCTYPE html>")
        # Self-contained: no URL the browser could fetch (the SVG namespace is not a fetch).
        urls = set(re.findall(r"(?:src|href)\s*=\s*\"([^\"]+)\"", html))
        assert urls == set(), urls
        assert "default-src 'none'" in html
        page = Path(d) / "report.html"
        page.write_text(html)
        dom = subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={d}/profile", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120)
        assert dom.returncode == 0, dom.stderr[-2000:]
        m = re.search(r'<html[^>]*data-charts-rendered="(\d+)"', dom.stdout)
        assert m, "the page script did not run: " + dom.stdout[:500]
        rendered = re.search(r'data-charts="([^"]*)"', dom.stdout).group(1).split(",")
        assert rendered == CHARTS, rendered
        assert int(m.group(1)) == len(CHARTS)
        def chart(name):
            return re.search(r'data-chart="%s".*?</svg>' % name, dom.stdout, re.S).group(0)

        # Each chart draws the demo's data, not just its axes: one SLI line per region, p50 and
        # p99 lines per region, a budget line per SLO of the demo spec, the two primary streams
        # that went quiet at the fault (expected gaps: grey bars), and the markers.
        assert chart("sli").count("<path") == 2
        assert chart("latency").count("<path") == 4
        assert chart("budget").count("<path") == 2
        gaps = chart("gaps")
        assert gaps.count('fill="#c5ccd6"') == 2 and 'fill="#c23b4e"' not in gaps, gaps[-600:]
        assert "us-east-1/frontend/spans" in gaps
        for name in CHARTS:
            assert "no data" not in chart(name), name
        timeline = chart("timeline")
        for marker in ("fault_injected", "failover_declared", "dns_cutover"):
            assert marker in timeline
