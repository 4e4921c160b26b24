"""Report rendering: Markdown + self-contained HTML, and a real render in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from advlab.report import Report  # noqa: E402
from advlab.report.browser import check_page, find_chromium  # noqa: E402


def _make_report(root: Path) -> Report:
    (root / "figures").mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [0.1, 0.5, 0.9])
    fig.savefig(root / "figures" / "curve.png")
    plt.close(fig)
    rep = Report("Test <report>", command="advlab train --seed 0", config={"seed": 0})
    sec = rep.section("Results")
    sec.table(["model", "acc"], [["cnn", 0.98765], ["mlp", None]], caption="Test accuracy")
    sec.figure("figures/curve.png", "A curve")
    sec.provenance("advlab train --seed 0", {"epochs": 3}, seed=0)
    return rep


def test_markdown_and_html_hold_tables_figures_and_commands(tmp_path: Path) -> None:
    md, page = _make_report(tmp_path).write(tmp_path)
    text = md.read_text()
    assert "| cnn | 0.988 |" in text and "| mlp | — |" in text
    assert "![A curve](figures/curve.png)" in text
    assert "$ advlab train --seed 0" in text
    html = page.read_text()
    assert "Test &lt;report&gt;" in html  # escaped
    assert re.search(r"src='data:image/png;base64,[A-Za-z0-9+/=]{100,}'", html)
    assert "http://" not in html and "https://" not in html


def test_markdown_text_and_cells_render_and_raw_html_stays_escaped(tmp_path: Path) -> None:
    rep = Report("r")
    sec = rep.section("Definitions")
    sec.text("**clean_accuracy**: accuracy on the *test* set, see `results.json`.\n\n"
             "- one\n- two\n\n<script>alert('x')</script> <b>bold?</b> "
             "[bad](javascript:alert(1)) [ok](results.json)")
    sec.table(["**model**", "acc"], [["`cnn` <i>x</i>", 0.5]], caption="*D_R* vs D_NR")
    sec.figure("figures/nope.png", "a <b>caption</b>")
    _, page = rep.write(tmp_path)
    html = page.read_text()
    assert "<strong>clean_accuracy</strong>" in html and "<em>test</em>" in html
    assert "<code>results.json</code>" in html and "<li>one</li>" in html
    assert "&lt;script&gt;alert" in html and "<script>alert" not in html
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html and "<b>" not in html
    assert "javascript:" not in html.split("[bad](", 1)[0][-200:] and 'href="javascript' not in html
    assert '<a href="results.json">ok</a>' in html
    assert "<th><strong>model</strong></th>" in html
    assert "<td><code>cnn</code> &lt;i&gt;x&lt;/i&gt;</td>" in html
    assert "<caption><em>D_R</em> vs D_NR</caption>" in html
    assert "**" not in html  # no Markdown source left in the page


def test_missing_figure_is_visible_not_silent(tmp_path: Path) -> None:
    rep = Report("r")
    rep.section("s").figure("figures/nope.png", "gone")
    _, page = rep.write(tmp_path)
    assert "figure missing: figures/nope.png" in page.read_text()


@pytest.mark.browser
@pytest.mark.skipif(find_chromium() is None, reason="chromium not installed")
def test_report_renders_in_chromium(tmp_path: Path) -> None:
    _, page = _make_report(tmp_path).write(tmp_path)
    shot = tmp_path / "screenshot.png"
    result = check_page(page, screenshot=shot, height=900)
    assert result["images"] == 1 and result["broken"] == []
    assert result["errors"] == [] and result["external"] == []
    assert shot.stat().st_size > 5000


@pytest.mark.browser
@pytest.mark.skipif(find_chromium() is None, reason="chromium not installed")
def test_probe_catches_broken_images_and_console_errors(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text("<html><head></head><body><img alt='x' src='data:image/png;base64,AAAA'>"
                    "<script>console.error('boom')</script></body></html>")
    result = check_page(page)
    assert result["broken"] == ["x"]
    assert any("boom" in e for e in result["errors"])
