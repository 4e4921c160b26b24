"""The demo end to end at tiny scale: stages, cache, combined report, and the page in Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from advlab.errors import AdvlabError
from advlab.experiments.demo import STAGES, run
from advlab.report.browser import check_page, find_chromium


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "run"
    run(out, scale="tiny", seed=0, command="advlab demo --scale tiny")
    return out


def test_demo_writes_every_stage_and_one_report(demo_dir: Path) -> None:
    results = json.loads((demo_dir / "results.json").read_text())
    for name, *_ in STAGES:
        assert (demo_dir / name / "DONE.json").is_file()
        assert name in results
    assert {"table1", "table7", "transfer"} <= set(results["ilyas2019"])
    assert "mnist5k:0-6" in results["richardson2020"]["datasets"]
    assert "theorem1" in results["theory-gaussian"] and "observation1" in results["theory-toy2d"]
    md = (demo_dir / "report.md").read_text()
    for title in ("Table 7", "Figure 6", "Theorem 2", "Figure 2"):
        assert title in md
    # figures of the sub-runs are referenced through their sub-folder and exist
    refs = [line.split("](", 1)[1].rstrip(")") for line in md.splitlines() if line.startswith("![")]
    assert refs and all((demo_dir / r).is_file() for r in refs)
    assert "$ advlab demo --scale tiny" in md


def test_second_run_reuses_every_stage(demo_dir: Path) -> None:
    t0 = time.monotonic()
    run(demo_dir, scale="tiny", seed=0, command="advlab demo --scale tiny")
    assert time.monotonic() - t0 < 30  # only the report is rendered again


def test_other_seed_in_the_same_folder_is_refused(demo_dir: Path) -> None:
    with pytest.raises(AdvlabError, match="out: .* another seed"):
        run(demo_dir, scale="tiny", seed=1)


def test_cli_bad_scale_is_one_line_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "advlab.cli", "demo", "--scale", "huge",
                           "--out", str(tmp_path / "d")], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.browser
@pytest.mark.skipif(find_chromium() is None, reason="chromium not installed")
def test_demo_report_renders_in_chromium(demo_dir: Path) -> None:
    shot = demo_dir / "screenshot.png"
    result = check_page(demo_dir / "report.html", screenshot=shot, width=1100, height=1500)
    assert result["images"] >= 10 and result["broken"] == []
    assert result["errors"] == [] and result["external"] == []
    assert shot.stat().st_size > 20000
