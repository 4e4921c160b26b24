"""Tests of the richardson2020 recipe: config, attack bookkeeping, a tiny end-to-end run."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch
from torch import nn

from advlab.errors import AdvlabError
from advlab.experiments.richardson2020 import attack as atk
from advlab.experiments.richardson2020 import cli_command
from advlab.experiments.richardson2020.config import make_config, parse_pairs
from advlab.experiments.richardson2020.paper import MODELS
from advlab.experiments.richardson2020.results import checks

# ------------------------------------------------------------------------ config


def test_presets_resolve_and_quick_runs_first_pair_only() -> None:
    quick = make_config("mnist5k", "quick")
    assert quick.pairs == ("0-6",)
    full = make_config("mnist5k", "full")
    assert full.pairs == ("0-6", "2-7", "4-5")
    assert (full.mfa_components, full.mfa_latent_dim, full.cw_steps, full.attack_binary_steps) == (25, 6, 500, 3)
    assert full.symmetric_noise_std == 0.001 and full.outlier_pc == 50 and full.outlier_variance == 0.5
    assert make_config("fashion-mnist", "quick", pairs="0-6,2-7").pairs == ("0-6", "2-7")


def test_overrides_apply_and_lists_become_tuples() -> None:
    cfg = make_config("mnist5k", "quick", n_train=123, cnn_widths=[2, 3])
    assert cfg.n_train == 123 and cfg.cnn_widths == (2, 3)


@pytest.mark.parametrize("kwargs, needle", [
    ({"scale": "huge"}, "^scale"),
    ({"dataset": "svhn"}, "^dataset"),
    ({"pairs": "0-0"}, "^pairs"),
    ({"pairs": "1-x"}, "^pairs"),
    ({"pairs": " , "}, "^pairs"),
    ({"n_train": 0}, "n_train"),
    ({"svm_gammas": [0.0]}, "svm_gammas"),
    ({"bogus": 1}, "bogus: unknown key"),
    ({"n_train": "1.5"}, "n_train: got '1.5'; expected an integer"),
    ({"cnn_lr": "nan"}, "cnn_lr"),
    ({"n_attack": 10_000}, "n_attack"),
])
def test_bad_settings_raise_one_clear_error(kwargs: dict, needle: str) -> None:
    args = {"dataset": "mnist5k", "scale": "quick", **kwargs}
    with pytest.raises(AdvlabError, match=needle):
        make_config(args.pop("dataset"), args.pop("scale"), **args)


def test_celeba_pairs_are_attribute_names() -> None:
    assert parse_pairs("Male,Smiling", "celeba") == ("Male", "Smiling")


def test_command_line_round_trips_the_overrides() -> None:
    cfg = make_config("mnist5k", "tiny", seed=3, n_train=50)
    words = shlex.split(cli_command(cfg, "runs/x", "cpu", None))
    assert words[:3] == ["advlab", "reproduce", "richardson2020"]
    assert words[words.index("--seed") + 1] == "3" and "n_train=50" in words
    assert words[words.index("--pairs") + 1] == "0-6"


# ------------------------------------------------------------------------ attacks


class Linear2(nn.Module):
    """Binary linear classifier on flattened images: logits [-f/2, f/2], f = w.x + b."""

    def __init__(self, w: torch.Tensor, b: float) -> None:
        super().__init__()
        self.w, self.b = w, b

    def decision(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w + self.b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.decision(x)[:, None]
        return torch.cat([-f / 2, f / 2], 1)


def _toy(n: int = 40, seed: int = 0) -> tuple[Linear2, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(16, generator=g)
    x = torch.randn(n, 1, 4, 4, generator=g)
    model = Linear2(w, 0.3)
    y = (model.decision(x) > 0).long()
    return model, x, y


def test_mean_l2_matches_the_closed_form_distance_to_a_hyperplane() -> None:
    model, x, y = _toy()
    s = atk.AttackSettings(steps=100, use_cwl2=False, box=None)
    summary, best = atk.evaluate_model(model, "linear_svm", x, y, len(x), s)
    exact = (model.decision(x).abs() / model.w.norm()).mean()
    assert summary["clean_accuracy"] == 1.0 and summary["adversarial_accuracy"] == 0.0
    assert summary["mean_l2"] == pytest.approx(float(exact), rel=0.03)
    assert bool((best.norms >= model.decision(x).abs() / model.w.norm() - 1e-4).all())


def test_adversarial_accuracy_counts_misclassified_points_as_errors() -> None:
    model, x, y = _toy()
    y_bad = y.clone()
    y_bad[:10] = 1 - y_bad[:10]  # 10 of 40 points now misclassified
    s = atk.AttackSettings(steps=50, use_cwl2=False, box=None)
    summary, _ = atk.evaluate_model(model, "cnn", x, y_bad, len(x), s)
    assert summary["clean_accuracy"] == pytest.approx(0.75)
    assert summary["adversarial_accuracy"] <= summary["clean_accuracy"]


def test_combine_keeps_the_smallest_successful_norm_per_point() -> None:
    from advlab.attacks import AttackResult

    x = torch.zeros(3, 1, 1, 2)
    clean = torch.zeros(3, dtype=torch.bool)
    a = AttackResult(x + 1, torch.tensor([True, False, True]), torch.tensor([1.0, float("inf"), 3.0]), "l2", None, clean)
    b = AttackResult(x + 2, torch.tensor([True, True, False]), torch.tensor([2.0, 0.5, float("inf")]), "l2", None, clean)
    c = atk.combine([a, b])
    assert c.norms.tolist() == [1.0, 0.5, 3.0]
    assert c.success.all()
    assert c.x_adv[:, 0, 0, 0].tolist() == [1.0, 2.0, 1.0]


def test_opposite_class_start_is_the_nearest_correct_point_of_the_other_class() -> None:
    model, x, y = _toy(60, seed=1)
    ref_x, ref_y = x[20:], y[20:]
    start = atk.opposite_class_start(model, x[:20], y[:20], ref_x, ref_y)
    for i in range(20):
        others = ref_x[ref_y != y[i]]
        d = (others.flatten(1) - x[i].flatten()).norm(dim=1)
        assert torch.allclose(start[i], others[d.argmin()])
        assert int(model(start[i:i + 1]).argmax(1)) != int(y[i])


def test_checks_flag_incomplete_attacks_and_a_missing_asymmetry() -> None:
    r = {"clean_accuracy": 1.0, "adversarial_accuracy": 0.0, "mean_l2": 1.0, "success_rate": 1.0}
    datasets = {"d:0-1": {"symmetric": {"bayes_optimal": dict(r), "cnn": {**r, "success_rate": 0.5}},
                          "asymmetric": {"bayes_optimal": dict(r)}}}
    notes = checks(datasets, {})
    assert any("cnn" in n and "50%" in n for n in notes)
    assert any("not several times" in n for n in notes)
    datasets["d:0-1"]["symmetric"]["bayes_optimal"]["mean_l2"] = 3.0
    datasets["d:0-1"]["symmetric"]["cnn"]["success_rate"] = 1.0
    assert checks(datasets, {}) == []


# ------------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from advlab.experiments.richardson2020 import run

    out = tmp_path_factory.mktemp("rw") / "run"
    return out, run(out, dataset="digits", scale="tiny", seed=0)


def test_tiny_run_writes_the_contract_keys(tiny_run: tuple[Path, dict]) -> None:
    out, results = tiny_run
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["datasets"].keys() == {"digits:0-6"}
    ds = on_disk["datasets"]["digits:0-6"]
    assert set(ds["symmetric"]) == set(MODELS) and set(ds["asymmetric"]) == {"bayes_optimal"}
    for variant in ds.values():
        for r in variant.values():
            for k in ("clean_accuracy", "adversarial_accuracy", "mean_l2"):
                assert k in r
            assert 0.0 <= float(r["adversarial_accuracy"]) <= 1.0
            if float(r["success_rate"]) == 1.0:  # every correct point fooled: nothing robust left
                assert float(r["adversarial_accuracy"]) == 0.0
    assert set(on_disk["real"]["digits:0-6"]) == {"cnn", "linear_svm", "rbf_svm"}
    assert {"width", "samples", "noise"} <= set(on_disk["sweeps"]["digits:0-6"])
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["command"].startswith("advlab reproduce richardson2020 --dataset digits")
    assert cfg["seed"] == 0 and cfg["config"]["scale"] == "tiny"


def test_tiny_run_writes_report_and_figures(tiny_run: tuple[Path, dict]) -> None:
    out, _ = tiny_run
    for name in ("report.md", "report.html", "figures/fig6-mean-l2.png", "figures/fig7-bayes-0-6.png",
                 "figures/fig9-sweeps.png", "figures/fig10-noise.png", "figures/fig11-trades.png",
                 "figures/fig12-real.png", "figures/fig13-models-0-6.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    md = (out / "report.md").read_text()
    assert "Figure 6" in md and "paper mean L2" in md and "$ advlab reproduce richardson2020" in md


def test_rerun_skips_every_stage(tiny_run: tuple[Path, dict], capfd: pytest.CaptureFixture[str]) -> None:
    from advlab.experiments.richardson2020 import run

    out, first = tiny_run
    again = run(out, dataset="digits", scale="tiny", seed=0)
    err = capfd.readouterr().err
    headers = [line for line in err.splitlines() if line.startswith("[richardson2020] stage")]
    assert headers and all("(cached)" in line for line in headers)
    assert again["datasets"] == first["datasets"]


def test_add_report_sections_prefixes_figure_paths(tiny_run: tuple[Path, dict]) -> None:
    from advlab.experiments.richardson2020 import add_report_sections
    from advlab.report import Report

    out, results = tiny_run
    rep = Report("demo")
    add_report_sections(rep, results, out, prefix="rw/")
    paths = [b.data["path"] for s in rep.sections for b in s.blocks if b.kind == "figure"]
    assert paths and all(p.startswith("rw/figures/") for p in paths)


def test_cli_reports_bad_pairs_in_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from advlab.cli import main

    with pytest.raises(SystemExit) as e:
        main(["reproduce", "richardson2020", "--pairs", "3-3", "--out", str(tmp_path / "o")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("advlab: error: --pairs")


def test_resuming_with_other_settings_is_refused(tiny_run: tuple[Path, dict]) -> None:
    from advlab.experiments.richardson2020 import run

    out, _ = tiny_run
    with pytest.raises(AdvlabError, match="n_train"):
        run(out, dataset="digits", scale="tiny", seed=0, n_train=61)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # minutes on an idle 2-core machine; far more under load
def test_quick_preset_shows_the_findings_of_figures_6_and_7(tmp_path: Path) -> None:
    """The real quick run (mnist5k 0-6): asymmetric Bayes-optimal is brittle, symmetric is
    robust; the CNN and the linear SVM are fooled by much smaller perturbations, the RBF
    SVM comes close to the Bayes-optimal classifier."""
    from advlab.experiments.richardson2020 import run

    d = run(tmp_path / "q", dataset="mnist5k", scale="quick")["datasets"]["mnist5k:0-6"]
    sym = {m: float(r["mean_l2"]) for m, r in d["symmetric"].items()}
    assert sym["bayes_optimal"] > 3 * float(d["asymmetric"]["bayes_optimal"]["mean_l2"])
    assert sym["cnn"] < 0.75 * sym["bayes_optimal"]
    assert sym["linear_svm"] < 0.75 * sym["bayes_optimal"]
    assert sym["rbf_svm"] > 0.8 * sym["bayes_optimal"]
    assert float(d["symmetric"]["bayes_optimal"]["clean_accuracy"]) > 0.97
