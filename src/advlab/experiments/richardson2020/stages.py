"""The recipe's stage functions: each takes its stage folder and returns a JSON summary.

A model stage trains or fits the model (CNN training resumes inside its own folder via
:func:`advlab.train.train`), attacks it (:mod:`.attack`) and writes a few originals and
adversarials to ``examples.safetensors`` for the figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from advlab.experiments.richardson2020 import models as zoo
from advlab.experiments.richardson2020.attack import AttackSettings, evaluate_model
from advlab.experiments.richardson2020.config import RichardsonConfig
from advlab.experiments.richardson2020.synth import (
    load_variant,
    noisy_variant,
    real_pair,
    sample_split,
)
from advlab.store import atomic_path

N_EXAMPLES = 8
Data = tuple[Tensor, Tensor]


def settings(cfg: RichardsonConfig, real: bool = False) -> AttackSettings:
    """Attack settings of a run; the box is [0, 1] on real images, none on synthetic ones."""
    return AttackSettings(steps=cfg.attack_steps, use_cwl2=cfg.use_cwl2, cw_steps=cfg.cw_steps,
                          binary_steps=cfg.attack_binary_steps, lr=cfg.attack_lr,
                          ldgrad_steps=cfg.ldgrad_steps, box=(0.0, 1.0) if real else None)


def save_examples(d: Path, x0: Tensor, x_adv: Tensor) -> None:
    """Store the first ``N_EXAMPLES`` originals and adversarials (N, C, H, W) for figures."""
    tensors = {"x0": x0[:N_EXAMPLES].float().contiguous(), "x_adv": x_adv[:N_EXAMPLES].float().contiguous()}
    with atomic_path(d / "examples.safetensors") as tmp:
        save_file(tensors, str(tmp))


def load_examples(d: Path) -> tuple[Tensor, Tensor]:
    """(x0, x_adv), each (n, C, H, W), as written by :func:`save_examples`."""
    t = load_file(str(d / "examples.safetensors"))
    return t["x0"], t["x_adv"]


def _attacked(d: Path, model: nn.Module, kind: str, test: Data, n: int, s: AttackSettings,
              ref: Data | None = None) -> dict[str, Any]:
    summary, best = evaluate_model(model, kind, test[0], test[1], n, s, ref)
    save_examples(d, test[0][:n], best.x_adv)
    summary.pop("hist_edges")
    return summary


def validation(syn_dir: Path, variant: str, cfg: RichardsonConfig) -> Data:
    """Fresh samples of the synthetic distribution (never seen in training or testing)."""
    pair_model, _, _ = load_variant(syn_dir, variant)
    return sample_split(pair_model, cfg.n_test, seed=cfg.seed + 10_007)


def bayes_stage(d: Path, syn_dir: Path, variant: str, cfg: RichardsonConfig) -> dict[str, Any]:
    """Attack the Bayes-optimal classifier of one variant on its test set."""
    pair_model, _, test = load_variant(syn_dir, variant)
    return _attacked(d, pair_model.classifier(), "bayes_optimal", test, cfg.n_attack, settings(cfg))


def cnn_stage(d: Path, syn_dir: Path, models_dir: Path, variant: str, cfg: RichardsonConfig,
              device: str) -> dict[str, Any]:
    """Width search for the all-conv CNN, then attack the selected one."""
    _, train, test = load_variant(syn_dir, variant)
    model, info = zoo.select_cnn(models_dir / variant, train, validation(syn_dir, variant, cfg),
                                 cfg, device)
    return {**_attacked(d, model, "cnn", test, cfg.n_attack, settings(cfg)), **info}


def svm_stage(d: Path, syn_dir: Path, variant: str, kind: str, cfg: RichardsonConfig
              ) -> dict[str, Any]:
    """Fit the linear SVM, or search gamma for the RBF SVM; then attack it."""
    _, train, test = load_variant(syn_dir, variant)
    if kind == "linear_svm":
        model, info = zoo.fit_linear(train, cfg), dict[str, Any]()
    else:
        model, info = zoo.select_rbf(train, validation(syn_dir, variant, cfg), cfg)
    return {**_attacked(d, model, kind, test, cfg.n_attack, settings(cfg), ref=train), **info}


def trades_stage(d: Path, syn_dir: Path, variant: str, width: int, cfg: RichardsonConfig,
                 device: str) -> dict[str, Any]:
    """TRADES CNN at the selected width (App. D.3), then attack it."""
    _, train, test = load_variant(syn_dir, variant)
    model = zoo.train_trades(d / "train", train, validation(syn_dir, variant, cfg), width, cfg, device)
    out = _attacked(d, model, "trades_cnn", test, cfg.n_attack, settings(cfg))
    return {**out, "width": width, "eps": cfg.trades_eps, "beta": cfg.trades_beta}


def width_sweep_stage(d: Path, syn_dir: Path, models_dir: Path, width: int, cfg: RichardsonConfig,
                      device: str) -> dict[str, Any]:
    """Figure 9 (right): the CNN at one width, standard schedule, attacked."""
    _, train, test = load_variant(syn_dir, "symmetric")
    model, acc = zoo.train_cnn(models_dir / "symmetric" / f"allconv-w{width}", train,
                               validation(syn_dir, "symmetric", cfg), width=width, cfg=cfg,
                               device=device)
    out = _attacked(d, model, "cnn", test, cfg.sweep_n_attack, settings(cfg))
    return {**out, "width": width, "val_accuracy": acc}


def samples_sweep_stage(d: Path, syn_dir: Path, n_total: int, width: int, cfg: RichardsonConfig,
                        device: str) -> dict[str, Any]:
    """Figure 9 (left): one pass over ``n_total`` fresh samples in batches of ``cnn_batch_size``.

    Every sample is drawn anew from the symmetric densities and seen once, which is
    on-the-fly sampling ("new samples generated dynamically at each SGD iteration").
    """
    pair_model, _, test = load_variant(syn_dir, "symmetric")
    train = sample_split(pair_model, max(1, n_total // 2), seed=cfg.seed + 20_011 + n_total)
    model, acc = zoo.train_cnn(d / "train", train, validation(syn_dir, "symmetric", cfg),
                               width=width, cfg=cfg, device=device, epochs=1)
    out = _attacked(d, model, "cnn", test, cfg.sweep_n_attack, settings(cfg))
    return {**out, "n_samples": 2 * max(1, n_total // 2), "width": width, "val_accuracy": acc}


def noise_sweep_stage(d: Path, syn_dir: Path, std: float, width: int, cfg: RichardsonConfig,
                      device: str) -> dict[str, Any]:
    """Figure 10: symmetric densities with noise std ``std``; Bayes-optimal and CNN attacked."""
    pair_model = noisy_variant(syn_dir, std)
    seed = cfg.seed + 30_011 + int(std * 1e6)
    train, test = sample_split(pair_model, cfg.n_train, seed), sample_split(pair_model, cfg.n_test, seed + 1)
    val = sample_split(pair_model, cfg.n_test, seed + 2)
    model, acc = zoo.train_cnn(d / "train", train, val, width=width, cfg=cfg, device=device)
    n, s = cfg.sweep_n_attack, settings(cfg)
    bo = _attacked(d / "bayes_optimal", pair_model.classifier(), "bayes_optimal", test, n, s)
    cnn = _attacked(d / "cnn", model, "cnn", test, n, s)
    return {"std": std, "bayes_optimal": bo, "cnn": {**cnn, "val_accuracy": acc, "width": width}}


def _real_split(cfg: RichardsonConfig, pair: str, data_root: str | None) -> tuple[Data, Data, Data]:
    """Real train (80%), validation (20%, fixed permutation) and test sets of a pair."""
    x, y = real_pair(cfg, pair, "train", data_root)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg.seed + 40_009))
    n_val = max(2, len(x) // 5)
    val, tr = perm[:n_val], perm[n_val:]
    test = real_pair(cfg, pair, "test", data_root)
    g = torch.Generator().manual_seed(cfg.seed + 40_013)
    shuffled = torch.randperm(len(test[0]), generator=g)  # attack a class-mixed subset
    return (x[tr], y[tr]), (x[val], y[val]), (test[0][shuffled], test[1][shuffled])


def real_stage(d: Path, kind: str, cfg: RichardsonConfig, pair: str, width: int,
               data_root: str | None, device: str) -> dict[str, Any]:
    """Appendix D.4.2: a model trained and tested on the real images (box [0, 1])."""
    train, val, test = _real_split(cfg, pair, data_root)
    s = settings(cfg, real=True)
    if kind == "cnn":
        model, acc = zoo.train_cnn(d / "train", train, val, width=width, cfg=cfg, device=device,
                                   label=f"{cfg.dataset}:{pair}")
        info: dict[str, Any] = {"width": width, "val_accuracy": acc}
    elif kind == "linear_svm":
        model, info = zoo.fit_linear(train, cfg), {}
    else:
        model, info = zoo.select_rbf(train, val, cfg)
    return {**_attacked(d, model, kind, test, cfg.n_attack, s, ref=train), **info}
