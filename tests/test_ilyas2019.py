"""Recipe ilyas2019: config resolution, helpers, a tiny end-to-end run (cached rerun),
and the real quick preset (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from advlab.errors import AdvlabError
from advlab.experiments.ilyas2019 import config as C
from advlab.experiments.ilyas2019 import evals, figures, stages
from advlab.report.format import eps_key

TABLE7_ROWS = {"standard", "adversarial", "d_nr", "d_r", "d_nr_noise", "d_r_noise"}


# ------------------------------------------------------------------ config


def test_presets_resolve_for_every_scale() -> None:
    for scale in C.SCALES:
        cfg = C.resolve_config(C.DEFAULT_DATASET[scale], scale)
        assert cfg.scale == scale and cfg.eval_eps and len(cfg.transfer_archs) >= 3
    # the paper's CIFAR-10 settings (Tables 4-6) in the full preset
    full = C.resolve_config("cifar10", "full")
    assert (full.robust_eps, full.robustify_steps, full.robustify_step_size) == (0.5, 1000, 0.1)
    assert (full.relabel_eps, full.relabel_steps, full.relabel_step_size) == (0.5, 100, 0.1)
    assert full.noise_steps == 10 * full.robustify_steps and full.eval_eps == (0.25, 0.5)
    assert len(C.resolve_config("mnist5k", "quick").transfer_archs) >= 4


@pytest.mark.parametrize("scale, dataset", [("tiny", "mnist5k"), ("quick", "mnist5k"),
                                            ("quick", "fashion-mnist"), ("medium", "fashion-mnist"),
                                            ("full", "cifar10")])
def test_every_cifar_style_preset_follows_tables_3_and_6(scale: str, dataset: str) -> None:
    """Table 6's shape (step eps/5; 100 steps outside CI) and Table 3's per-set rule."""
    cfg = C.resolve_config(dataset, scale)
    assert cfg.relabel_step_size == pytest.approx(cfg.relabel_eps / 5)
    assert scale == "tiny" or cfg.relabel_steps == 100
    d_r, rand, det = cfg.constructed_train, cfg.rand_train, cfg.det_train
    assert rand.lr == pytest.approx(d_r.lr / 10) and rand.augment == d_r.augment
    assert det.augment == "none" and det.lr == d_r.lr and det.epochs == d_r.epochs
    assert scale == "tiny" or d_r.augment != "none"  # Table 3: D_R trained with augmentation


def test_cpu_presets_converge_and_full_keeps_the_papers_optimizer() -> None:
    for scale, dataset in (("quick", "fashion-mnist"), ("medium", "fashion-mnist")):
        cfg = C.resolve_config(dataset, scale)
        assert cfg.robustify_optimizer == "polyak" and 0 < cfg.robustify_tol <= C.CONVERGED_REL_MEDIAN
    full = C.resolve_config("cifar10", "full")
    assert (full.robustify_optimizer, full.robustify_tol) == ("paper", 0.0)
    assert C.resolve_config("fashion-mnist", "quick").eval_eps == (0.5, 1.0, 1.5)
    assert C.resolve_config("mnist5k", "quick").eval_eps == (1.0, 2.0)


def test_convergence_judges_each_construction_by_its_criterion() -> None:
    from advlab.experiments.ilyas2019.results import convergence

    stage = {
        "construct_d_r": {"optimizer": "polyak", "steps": 250, "step_size": 1.0, "tol": 0.02,
                          "stats": {"rep_rel_median": 0.019}},
        "construct_d_nr_noise": {"optimizer": "paper", "steps": 100, "step_size": 0.2, "tol": 0.0,
                                 "stats": {"rep_rel_median": 0.31}},
        "construct_d_det": {"steps": 100, "step_size": 0.4, "eps": 2.0,
                            "stats": {"reached_rate": 0.62}},
        "construct_d_rand": {"steps": 100, "step_size": 0.4, "eps": 2.0,
                             "stats": {"reached_rate": 0.95}},
        "construct_d_det_robust": {"steps": 100, "step_size": 0.4, "eps": 2.0,
                                   "stats": {"reached_rate": 0.2}},
        "train_d_r": {"stats": {"rep_rel_median": 0.0}},  # not a construction
    }
    conv = convergence(stage)
    assert set(conv) == {"d_r", "d_nr_noise", "d_det", "d_rand", "d_det_robust"}
    assert conv["d_det_robust"]["met"] is None and "control" in conv["d_det_robust"]["criterion"]
    assert [conv[k]["met"] for k in ("d_r", "d_nr_noise", "d_det", "d_rand")] == [True, False, False, True]
    assert "polyak" in conv["d_r"]["built_by"] and "0.02" in conv["d_r"]["built_by"]
    assert "100 steps of 0.4" in conv["d_det"]["built_by"]


def test_overrides_are_typed_and_dotted() -> None:
    cfg = C.resolve_config("mnist5k", "quick", robustify_steps="300", eval_eps="0.5,1.5",
                           **{"constructed_train.epochs": "3", "constructed_train.lr": 0.2},
                           n_train="none", transfer_archs="cnn,mlp")
    assert cfg.robustify_steps == 300 and cfg.eval_eps == (0.5, 1.5)
    assert cfg.constructed_train.epochs == 3 and cfg.constructed_train.lr == 0.2
    assert cfg.n_train is None and cfg.transfer_archs == ("cnn", "mlp")
    # untouched fields keep the preset's values
    assert cfg.constructed_train.momentum == C.resolve_config("mnist5k", "quick").constructed_train.momentum


@pytest.mark.parametrize("overrides, needle", [
    ({"no_such_field": 1}, "no_such_field: unknown key"),
    ({"constructed_train.nope": 1}, "constructed_train"),
    ({"robustify_steps": "many"}, "robustify_steps"),
    ({"n_construct": 0}, "n_construct"),
    ({"eval_eps": "-1"}, "eval_eps"),
    ({"transfer_archs": "cnn,cnn"}, "transfer_archs"),
])
def test_bad_overrides_name_the_argument(overrides: dict, needle: str) -> None:
    with pytest.raises(AdvlabError, match=needle):
        C.resolve_config("mnist5k", "quick", **overrides)


def test_unknown_scale() -> None:
    with pytest.raises(AdvlabError, match="scale"):
        C.resolve_config("mnist5k", "huge")


def test_command_line_reproduces_overrides() -> None:
    from advlab.cli.options import parse_sets
    from advlab.experiments.ilyas2019 import cli_command

    cfg = C.resolve_config("mnist5k", "quick", eval_eps=(0.5, 8 / 255),
                           **{"constructed_train.epochs": 5, "model_kwargs.width": 8})
    line = cli_command(cfg, "runs/x", 3, "cpu", None)
    assert line.startswith("advlab reproduce ilyas2019 --dataset mnist5k --scale quick")
    sets = [p.split()[0] for p in line.split("--set")[1:]]
    assert len(sets) == 3  # only what differs from the preset
    assert C.resolve_config("mnist5k", "quick", parse_sets(tuple(sets))) == cfg


# ------------------------------------------------------------------ helpers


def test_subset_is_seeded_random_and_stratified_enough() -> None:
    x = torch.arange(1000, dtype=torch.float32).view(1000, 1, 1, 1)
    y = torch.arange(1000) // 100  # sorted by label, like mnist5k
    xa, ya = stages.subset((x, y), 200, seed=0)
    xb, yb = stages.subset((x, y), 200, seed=0)
    assert torch.equal(xa, xb) and xa.shape == (200, 1, 1, 1)
    assert torch.equal(ya, xa.view(-1).long() // 100)  # pairs kept together
    assert len(ya.unique()) == 10  # not the first 200 (two classes)
    assert stages.subset((x, y), None, 0)[0] is x


def test_pearson_closed_form() -> None:
    assert evals.pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert evals.pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert evals.pearson([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert evals.pearson([1, 1], [1, 2]) is None and evals.pearson([1], [1]) is None


def test_eps_key_and_positions() -> None:
    assert eps_key(1) == "1" and eps_key(0.25) == "0.25" and float(eps_key(8 / 255)) == 8 / 255
    pos = figures._positions(torch.tensor([7, 3, 9]), torch.tensor([9, 7]))
    assert pos.tolist() == [2, 0]
    assert figures._spread(torch.arange(100), 5).tolist() == [0, 25, 50, 74, 99]
    assert figures._spread(torch.arange(3), 8).tolist() == [0, 1, 2]


def test_cli_bad_set_is_one_line_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "run"
    advlab = str(Path(sys.executable).parent / "advlab")
    proc = subprocess.run([advlab, "reproduce", "ilyas2019",
                           "--out", str(out), "--set", "bogus=1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--set" in lines[0] and "Traceback" not in proc.stderr
    assert not out.exists()


def test_set_refuses_reserved_keys() -> None:
    from advlab.cli.options import parse_sets

    for key in ("dataset", "scale", "seed", "device", "out"):
        with pytest.raises(AdvlabError, match=f"{key}: is set by --"):
            C.resolve_config("mnist5k", "quick", {key: "x"})
    with pytest.raises(AdvlabError, match="KEY=VALUE"):
        parse_sets(("noequals",))


# ------------------------------------------------------------------ end to end


def _check_results(res: dict, cfg: C.IlyasConfig) -> None:
    keys = [eps_key(e) for e in cfg.eval_eps]
    assert set(res["table1"]) >= {"D", "D_rand", "D_det"}
    rows = res["table7"]["rows"]
    assert TABLE7_ROWS <= set(rows)
    for r in rows.values():
        assert 0 <= r["clean"] <= 1 and list(r["robust"]) == keys
        assert all(0 <= a <= r["clean"] + 1e-9 for a in r["robust"].values())  # robust <= clean
    for k in ("robust_train", "robust_test", "standard_test"):
        assert 0 <= res["table8"][k] <= res["table8"][f"{k}_clean"] + 1e-9
    for src in ("standard", "robust"):
        assert set(res["table9"][src]) == {"D", "D_rand", "D_det"}
        assert set(res["table10"][src]) == {"D", "relabelled"}
    assert set(res["transfer"]["archs"]) == set(cfg.transfer_archs)
    for a in res["transfer"]["archs"].values():
        assert 0 <= a["transfer_rate"] <= 1 and 0 <= a["test_acc_d_det"] <= 1
    f8 = res["figure8"]
    assert len(f8["accuracy"]["d_r"]) == len(f8["steps"]) == len(cfg.fig8_steps)
    assert set(res["figure10"]) == {"d_rand", "d_det", "d_rand_robust", "d_det_robust"}
    assert len(res["figure10"]["d_det"]) == cfg.constructed_train.epochs


def test_tiny_run_end_to_end_and_cached_rerun(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from advlab.experiments import ilyas2019

    out = tmp_path / "run"
    res = ilyas2019.run(out, dataset="mnist5k", scale="tiny", seed=0)
    cfg = C.resolve_config("mnist5k", "tiny")
    _check_results(res, cfg)
    assert json.loads((out / "results.json").read_text())["table1"] == res["table1"]
    conf = json.loads((out / "config.json").read_text())
    assert conf["command"].startswith("advlab reproduce ilyas2019") and conf["seed"] == 0
    for f in ("report.md", "report.html", *[f"figures/{n}.png" for n in figures.FIGURES]):
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    md = (out / "report.md").read_text()
    assert "Table 7" in md and "95.2%" in md  # the paper's value beside ours
    first = capsys.readouterr().err
    n_stages = first.count("[ilyas2019] stage ")
    assert n_stages > 20 and first.count("(running)") == n_stages

    again = ilyas2019.run(out, dataset="mnist5k", scale="tiny", seed=0)
    err = capsys.readouterr().err
    assert err.count("(cached)") == n_stages and "(running)" not in err
    assert {k: again[k] for k in ("table1", "table7", "transfer")} == \
        {k: res[k] for k in ("table1", "table7", "transfer")}


def test_rerun_with_other_settings_is_refused(tmp_path: Path) -> None:
    from advlab.experiments import ilyas2019
    from advlab.experiments.engine import FORMAT, config_dict
    from advlab.store import atomic_write_json

    out = tmp_path / "run"
    cfg = C.resolve_config("mnist5k", "tiny")
    atomic_write_json(out / "config.json", {"format": FORMAT, "recipe": "ilyas2019", "seed": 0,
                                            "config": config_dict(cfg)})
    with pytest.raises(AdvlabError, match="out: .* another robustify_steps"):
        ilyas2019.run(out, dataset="mnist5k", scale="tiny", robustify_steps=7)
    with pytest.raises(AdvlabError, match="out: .* another seed"):
        ilyas2019.run(out, dataset="mnist5k", scale="tiny", seed=1)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # minutes on an idle 2-core machine; far more under load
def test_quick_preset(tmp_path: Path) -> None:
    from advlab.experiments import ilyas2019

    res = ilyas2019.run(tmp_path / "quick", dataset="mnist5k", scale="quick")
    _check_results(res, C.resolve_config("mnist5k", "quick"))
    # what the preset guarantees, not a finding's outcome (the scorecard judges those)
    assert res["sources"]["standard"] > 0.9 and res["sources"]["robust"] > 0.8
    conv = res["convergence"]
    assert {"d_r", "d_nr", "d_r_noise", "d_nr_noise", "d_det", "d_rand"} <= set(conv)
    assert all(conv[k]["met"] for k in ("d_r", "d_nr"))  # converged inversions from images
    assert {f["verdict"] for f in res["findings"]} <= {"reproduces", "does not reproduce",
                                                       "not testable here"}
