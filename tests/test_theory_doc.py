"""docs/theory.md: every generated block is current with the committed raw results."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("theory_doc", ROOT / "scripts" / "theory_doc.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["theory_doc"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_docs_theory_is_current_with_the_committed_results() -> None:
    mod = _script()
    doc = mod.DOC.read_text()
    assert mod.render(doc) == doc, "run: python scripts/theory_doc.py"


def test_committed_results_are_full_seed0_runs_whose_numbers_appear_on_the_page() -> None:
    mod = _script()
    doc = mod.DOC.read_text()
    g, t = mod.load("gaussian"), mod.load("toy2d")
    assert g["seed"] == t["seed"] == 0 and not g["quick"] and not t["quick"]
    for kind in ("gaussian", "toy2d"):
        cfg = json.loads((mod.RESULTS / kind / "config.json").read_text())
        assert cfg["config"]["kind"] == kind and cfg["config"]["quick"] is False
    assert f"{g['theorem1']['nll']['printed_formula_z_score']:.1f}" in doc
    assert f"{t['observation1']['median_distance']['0.01']:.4f}" in doc


def test_render_refuses_a_page_without_its_blocks() -> None:
    with pytest.raises(SystemExit):
        _script().render("# no generated blocks\n")
