"""``advlab theory``: writes its files; user errors exit 2 with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from advlab.cli import main
from advlab.experiments import theory
from advlab.experiments.theory.config import GaussianConfig, Toy2dConfig
from advlab.experiments.theory.stages import model_for, model_generator
from advlab.seeding import derive_seed


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as e:
        main(argv)
    return int(e.value.code or 0)


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GaussianConfig, "preset", staticmethod(lambda quick: GaussianConfig(
        eps=(1.0,), dims=(2, 3), per_sample_n=(300, 300), per_sample_eps=(1.0,), mc_n=2000, t1_dim=3,
        fig4_eps=(0.0, 1.0), fig14_n=100)))
    monkeypatch.setattr(Toy2dConfig, "preset", staticmethod(lambda quick: Toy2dConfig(
        n_per_class=30, obs1_sigma1=(1.0, 0.1, 0.01, 0.001), obs1_n=50, contour_grid=201)))


@pytest.mark.parametrize("kind", ["gaussian", "toy2d"])
def test_cli_writes_config_results_figures_and_reports(kind: str, tmp_path: Path, tiny: None,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / kind
    assert _run(["theory", kind, "--out", str(out), "--seed", "3", "--quick"]) == 0
    for f in ("config.json", "results.json", "report.md", "report.html"):
        assert (out / f).is_file()
    pngs = list((out / "figures").glob("*.png"))
    assert len(pngs) >= 3 and all(p.stat().st_size > 1000 for p in pngs)
    res = json.loads((out / "results.json").read_text())
    if kind == "gaussian":
        assert abs(res["theorem1"]["z_score"]) < 4 and res["theorem2"]["max_relative_error"] < 0.02
        assert "rows" in res["theorem3"]
    else:
        assert res["observation1"]["monotone"] is True and len(res["observation1"]["median_distance"]) == 4
    assert "figures/" in (out / "report.md").read_text()


def test_run_theory_is_deterministic_for_a_seed(tmp_path: Path, tiny: None) -> None:
    a = theory.run(tmp_path / "a", kind="gaussian", seed=1, quick=True)
    b = theory.run(tmp_path / "b", kind="gaussian", seed=1, quick=True)
    assert a["theorem1"] == b["theorem1"] and a["theorem2"]["per_sample"] == b["theorem2"]["per_sample"]


def test_bad_kind_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["theory", "nope", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope" in err and "gaussian" in err


def test_out_existing_file_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    assert _run(["theory", "toy2d", "--out", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err


def test_each_dimension_gets_one_model_derived_from_the_seed(tmp_path: Path, tiny: None) -> None:
    """Theorems 1-3 see the same d-dim model, seeded by derive_seed(seed, "model", d)."""
    res = theory.run(tmp_path / "a", kind="gaussian", seed=1, quick=True)
    used = torch.Generator().manual_seed(1)
    torch.randn(50, generator=used)  # the model must not depend on the study generator's state
    assert model_generator(used, 3).initial_seed() == derive_seed(1, "model", 3)
    sigma = model_for(3, model_generator(used, 3)).sigma
    assert res["theorem1"]["C"] == pytest.approx(2 / float(sigma.min()), rel=1e-12)
    row2 = next(r for r in res["theorem2"]["relaxed"] if r["d"] == 3)
    assert row2["sqrt_trace_inv_sigma"] == pytest.approx(float((1 / sigma).sum().sqrt()), rel=1e-12)
    row3 = next(r for r in res["theorem3"]["rows"] if r["d"] == 3 and r["eps"] == 0)
    assert row3["condition_number"] == pytest.approx(float(sigma.max() / sigma.min()), rel=1e-12)
    other = model_for(3, model_generator(torch.Generator().manual_seed(2), 3)).sigma
    assert not torch.equal(sigma, other)
