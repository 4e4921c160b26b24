"""The recipe's stage functions: each takes its stage folder and returns a JSON summary.

A model stage trains or fits the model (CNN training resumes inside its own folder via
:func:`advlab.train.train`), attacks it (:mod:`.attack`) and writes a few originals and
adversarials to ``examples.safetensors`` for the figures.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from advlab.experiments.engine import RunContext, Stage
from advlab.experiments.richardson2020 import models as zoo
from advlab.experiments.richardson2020.attack import AttackSettings, evaluate_model
from advlab.experiments.richardson2020.config import RichardsonConfig
from advlab.experiments.richardson2020.synth import (
    VARIANTS,
    build_synthetic,
    load_variant,
    noisy_variant,
    real_pair,
    sample_split,
)
from advlab.seeding import derive_seed, generator
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
              ref: Data | None = None, device: str | None = None) -> dict[str, Any]:
    summary, best = evaluate_model(model, kind, test[0], test[1], n, s, ref, device)
    save_examples(d, test[0][:n], best.x_adv)
    summary.pop("hist_edges")
    return summary


def validation(syn_dir: Path, variant: str, cfg: RichardsonConfig) -> Data:
    """Fresh samples of the synthetic distribution (never seen in training or testing)."""
    pair_model, _, _ = load_variant(syn_dir, variant)
    return sample_split(pair_model, cfg.n_test, seed=derive_seed(cfg.seed, "validation"))


def bayes_stage(d: Path, syn_dir: Path, variant: str, cfg: RichardsonConfig,
                device: str = "cpu") -> dict[str, Any]:
    """Attack the Bayes-optimal classifier of one variant on its test set (on ``device``)."""
    pair_model, _, test = load_variant(syn_dir, variant)
    return _attacked(d, pair_model.classifier(), "bayes_optimal", test, cfg.n_attack, settings(cfg),
                     device=device)


def cnn_stage(d: Path, syn_dir: Path, models_dir: Path, variant: str, cfg: RichardsonConfig,
              device: str) -> dict[str, Any]:
    """Width search for the all-conv CNN, then attack the selected one."""
    _, train, test = load_variant(syn_dir, variant)
    model, info = zoo.select_cnn(models_dir / variant, train, validation(syn_dir, variant, cfg),
                                 cfg, device)
    return {**_attacked(d, model, "cnn", test, cfg.n_attack, settings(cfg)), **info}


def svm_stage(d: Path, syn_dir: Path, variant: str, kind: str, cfg: RichardsonConfig,
              device: str = "cpu") -> dict[str, Any]:
    """Fit the linear SVM, or search gamma for the RBF SVM (scikit-learn, on the CPU); then
    attack it on ``device``."""
    _, train, test = load_variant(syn_dir, variant)
    if kind == "linear_svm":
        model, info = zoo.fit_linear(train, cfg), dict[str, Any]()
    else:
        model, info = zoo.select_rbf(train, validation(syn_dir, variant, cfg), cfg)
    return {**_attacked(d, model, kind, test, cfg.n_attack, settings(cfg), ref=train, device=device),
            **info}


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
    train = sample_split(pair_model, max(1, n_total // 2), seed=derive_seed(cfg.seed, "samples_sweep", n_total))
    model, acc = zoo.train_cnn(d / "train", train, validation(syn_dir, "symmetric", cfg),
                               width=width, cfg=cfg, device=device, epochs=1)
    out = _attacked(d, model, "cnn", test, cfg.sweep_n_attack, settings(cfg))
    return {**out, "n_samples": 2 * max(1, n_total // 2), "width": width, "val_accuracy": acc}


def noise_sweep_stage(d: Path, syn_dir: Path, std: float, width: int, cfg: RichardsonConfig,
                      device: str) -> dict[str, Any]:
    """Figure 10: symmetric densities with noise std ``std``; Bayes-optimal and CNN attacked."""
    pair_model = noisy_variant(syn_dir, std)
    train, test, val = (sample_split(pair_model, n, derive_seed(cfg.seed, "noise_sweep", f"{std:g}", part))
                        for n, part in ((cfg.n_train, "train"), (cfg.n_test, "test"), (cfg.n_test, "val")))
    model, acc = zoo.train_cnn(d / "train", train, val, width=width, cfg=cfg, device=device)
    n, s = cfg.sweep_n_attack, settings(cfg)
    bo = _attacked(d / "bayes_optimal", pair_model.classifier(), "bayes_optimal", test, n, s,
                   device=device)
    cnn = _attacked(d / "cnn", model, "cnn", test, n, s)
    return {"std": std, "bayes_optimal": bo, "cnn": {**cnn, "val_accuracy": acc, "width": width}}


def _real_split(cfg: RichardsonConfig, pair: str, data_root: str | None) -> tuple[Data, Data, Data]:
    """Real train (80%), validation (20%, fixed permutation) and test sets of a pair."""
    x, y = real_pair(cfg, pair, "train", data_root)
    perm = torch.randperm(len(x), generator=generator(cfg.seed, "real_validation"))
    n_val = max(2, len(x) // 5)
    val, tr = perm[:n_val], perm[n_val:]
    test = real_pair(cfg, pair, "test", data_root)
    # attack a class-mixed subset
    shuffled = torch.randperm(len(test[0]), generator=generator(cfg.seed, "real_test_order"))
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
    return {**_attacked(d, model, kind, test, cfg.n_attack, s, ref=train, device=device), **info}


# ------------------------------------------------------------------------ the stage list
# Stage folders (``<p>`` is the pair, e.g. ``0-6``):
#   <p>/synthetic                      MFA fit, symmetric / asymmetric densities and data
#   <p>/<variant>/<model>              one model trained / fitted and attacked
#   <p>/sweep/width-<w>, samples-<n>, noise-<std>   Figures 9 and 10 (first pair only)
#   <p>/real/<model>                   Appendix D.4: models on the real images (first pair)
#   <p>/models/<variant>/allconv-w<w>  CNN training runs shared by the width search and
#                                      the width sweep (resumed by advlab.train)

Keyed = tuple[Stage, tuple[str, ...]]  # (stage, keys of its result in its pair's state)
Planned = tuple[Stage, str, tuple[str, ...]]  # (stage, pair, keys)


def plan(ctx: RunContext) -> list[Planned]:
    """Every stage of every pair, in run order, with where its result goes in ``states``."""
    cfg: RichardsonConfig = ctx.config
    out: list[Planned] = []
    for i, pair in enumerate(cfg.pairs):
        out += [(s, pair, keys) for s, keys in _pair_stages(ctx, pair)]
        if i == 0:
            out += [(s, pair, keys) for s, keys in _first_pair_stages(ctx, pair)]
    return out


def stages(ctx: RunContext) -> list[Stage]:
    """The recipe's stages, in run order."""
    return [s for s, _, _ in plan(ctx)]


def states(ctx: RunContext) -> dict[str, dict[str, Any]]:
    """``{pair: {"synthetic": ..., variant: {model: ...}, "sweep_width": {...}, ...}}``."""
    out: dict[str, dict[str, Any]] = {pair: {} for pair in ctx.config.pairs}
    for stage, pair, keys in plan(ctx):
        node = out[pair]
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = ctx.results[stage.name]
    return out


def _width(ctx: RunContext, pair: str, variant: str = "symmetric") -> int:
    """The CNN width selected by the pair's width search (an earlier stage)."""
    return int(ctx.results[f"{pair}/{variant}/cnn"]["width"])


def _trades(ctx: RunContext, p: str, v: str) -> Callable[[Path], dict[str, Any]]:
    def go(d: Path) -> dict[str, Any]:
        return trades_stage(d, ctx.path(p, "synthetic"), v, _width(ctx, p, v), ctx.config, ctx.device)

    return go


def _pair_stages(ctx: RunContext, p: str) -> list[Keyed]:
    cfg, device = ctx.config, ctx.device
    syn, models_dir = ctx.path(p, "synthetic"), ctx.path(p, "models")
    out: list[Keyed] = [(Stage(f"{p}/synthetic", partial(build_synthetic, cfg=cfg, pair=p, data_root=ctx.data_root,
                                            device=device)), ("synthetic",))]
    for v in VARIANTS:
        out.append((Stage(f"{p}/{v}/bayes_optimal", partial(bayes_stage, syn_dir=syn, variant=v, cfg=cfg,
                                                                    device=device)),
                    (v, "bayes_optimal")))
        if v == "asymmetric" and not cfg.models_on_asymmetric:
            continue
        out += [
            (Stage(f"{p}/{v}/cnn", partial(cnn_stage, syn_dir=syn, models_dir=models_dir, variant=v,
                                           cfg=cfg, device=device)), (v, "cnn")),
            (Stage(f"{p}/{v}/linear_svm", partial(svm_stage, syn_dir=syn, variant=v, kind="linear_svm",
                                                  cfg=cfg, device=device)), (v, "linear_svm")),
            (Stage(f"{p}/{v}/rbf_svm", partial(svm_stage, syn_dir=syn, variant=v, kind="rbf_svm",
                                               cfg=cfg, device=device)), (v, "rbf_svm")),
        ]
        if cfg.trades:
            out.append((Stage(f"{p}/{v}/trades_cnn", _trades(ctx, p, v)), (v, "trades_cnn")))
    return out


def _first_pair_stages(ctx: RunContext, p: str) -> list[Keyed]:
    """Sweeps (Figures 9, 10) and real-data models (App. D.4), run on the first pair only."""
    cfg, device = ctx.config, ctx.device
    syn, models_dir = ctx.path(p, "synthetic"), ctx.path(p, "models")

    def at_width(fn: Callable[..., Any], **kw: Any) -> Callable[[Path], Any]:
        return lambda d: fn(d, width=_width(ctx, p), **kw)

    out: list[Keyed] = [(Stage(f"{p}/sweep/width-{w}", partial(width_sweep_stage, syn_dir=syn, models_dir=models_dir,
                                                  width=w, cfg=cfg, device=device)), ("sweep_width", str(w)))
           for w in cfg.sweep_widths]
    out += [(Stage(f"{p}/sweep/samples-{n}", at_width(samples_sweep_stage, syn_dir=syn, n_total=n,
                                                      cfg=cfg, device=device)), ("sweep_samples", str(n)))
            for n in cfg.sweep_samples_total]
    out += [(Stage(f"{p}/sweep/noise-{s:g}", at_width(noise_sweep_stage, syn_dir=syn, std=s, cfg=cfg,
                                                      device=device)), ("sweep_noise", f"{s:g}"))
            for s in cfg.sweep_noise_stds if s != cfg.symmetric_noise_std]
    if cfg.real_data:
        out += [(Stage(f"{p}/real/{kind}", at_width(real_stage, kind=kind, cfg=cfg, pair=p,
                                                    data_root=ctx.data_root, device=device)),
                 ("real", kind)) for kind in ("cnn", "linear_svm", "rbf_svm")]
    return out
