"""The recipe's stages, in run order, and the work units they call.

Stage folders (sub-folders of ``--out``):

1. ``source_standard`` / ``source_robust``: the source models (standard; L2 PGD-AT).
2. ``construct_*``: D_R, D_NR (from images and from noise), the D_R test set (Table 8),
   D_rand / D_det from the standard and from the robust source (Tables 1, 9, 10).
3. ``train_*``: standard training on every constructed set, plus ``train_original`` and
   ``train_original_noise`` (the images whose representations D_R and D_R-from-noise
   invert, unmodified: a control the paper does not have).
4. ``transfer_*``: Figure 3's architectures, trained on D and on D_det.
5. ``eval_*``: Tables 1 and 7-10, Figures 3 and 8.

The order puts the most informative stages first, so a partial run already answers
Table 7's main question (D_R vs D_NR), then Tables 1/9/10, 8 and Figure 3.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advlab.data import load_dataset
from advlab.experiments.engine import RunContext, Stage
from advlab.experiments.ilyas2019 import evals
from advlab.experiments.ilyas2019.config import IlyasConfig, TrainSettings
from advlab.seeding import derive_seed, seeded_subset

Data = tuple[torch.Tensor, torch.Tensor]

#: constructed set -> (construction kind, source model, init)
CONSTRUCTIONS: dict[str, tuple[str, str, str | None]] = {
    "d_r": ("robust", "robust", "image"),
    "d_nr": ("nonrobust", "standard", "image"),
    "d_r_noise": ("robust", "robust", "noise"),
    "d_nr_noise": ("nonrobust", "standard", "noise"),
    "d_rand": ("rand", "standard", None),
    "d_det": ("det", "standard", None),
    "d_rand_robust": ("rand", "robust", None),
    "d_det_robust": ("det", "robust", None),
}

#: Figure 3's architecture labels -> (architecture, keyword arguments); other labels are
#: architecture names with their defaults. ``linear`` is an MLP without hidden layers.
TRANSFER_MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "linear": ("mlp", {"hidden": []}),
    "allconv": ("allconv", {"width": 16}),
    # the CIFAR Inception-v3 of the paper's code base (robustness.cifar_models): no upsampling
    "inception_v3": ("inception_v3", {"stem": "cifar"}),
}

#: constructed sets whose training curves Figure 10 plots (test accuracy per epoch)
FIGURE10_SETS: tuple[str, ...] = ("d_rand", "d_det")

#: Learning-rate factors per Figure 3 label. The all-convolutional net has no batch
#: normalisation and diverges (loss -> nan) under SGD at the CNN's lr 0.05; at 0.01 it trains.
TRANSFER_LR_SCALE: dict[str, float] = {"allconv": 0.2}


def transfer_model(label: str, cfg: IlyasConfig) -> tuple[str, dict[str, Any]]:
    """Figure 3's network of ``label``: (architecture, keyword arguments). The recipe's own
    architecture (``cfg.arch``) comes with ``cfg.model_kwargs``."""
    if label in TRANSFER_MODELS:
        arch, kwargs = TRANSFER_MODELS[label]
        return arch, dict(kwargs)
    return label, dict(cfg.model_kwargs) if label == cfg.arch else {}


def reuses_d_det(arch: str, kwargs: dict[str, Any], cfg: IlyasConfig) -> bool:
    """Whether a Figure 3 network is train_d_det's (same network, data, settings, seed)."""
    return arch == cfg.arch and kwargs == dict(cfg.model_kwargs)


def subset(data: Data, n: int | None, seed: int) -> Data:
    """A seeded random subset of ``n`` samples (all of them, unchanged, when n is None or too large).

    Args:
        data: (x (N, C, H, W), y (N,)).
    Returns:
        (x (n, C, H, W), y (n,)), in a random order that depends on ``seed`` only.
    """
    x, y = data
    if n is None or n >= x.shape[0]:
        return x, y
    idx = seeded_subset(x.shape[0], n, seed)
    return x[idx], y[idx]


class Ilyas:
    """One run's state: the config, its data (loaded once) and the earlier stages' outputs."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx, self.cfg = ctx, ctx.config
        self.seed, self.device, self.data_root = ctx.seed, ctx.device, ctx.data_root

    @functools.cached_property
    def full_train(self) -> Data:
        return load_dataset(self.cfg.dataset, "train", data_root=self.data_root)

    @functools.cached_property
    def train(self) -> Data:
        return subset(self.full_train, self.cfg.n_train, derive_seed(self.seed, "train"))

    @functools.cached_property
    def test(self) -> Data:
        return load_dataset(self.cfg.dataset, "test", data_root=self.data_root)

    @functools.cached_property
    def eval(self) -> Data:
        """The seeded test subset every robust accuracy is measured on, (n_eval, C, H, W)."""
        return subset(self.test, self.cfg.n_eval, derive_seed(self.seed, "eval"))

    @property
    def results(self) -> dict[str, Any]:
        return self.ctx.results

    def ckpt(self, stage: str, *sub: str) -> str:
        """The checkpoint folder a training stage wrote (``sub``: a nested result)."""
        res = self.results[stage]
        for key in sub:
            res = res[key]
        return str(self.ctx.path(stage, res["checkpoint"]))

    def model(self, checkpoint: str) -> nn.Module:
        """The model of a checkpoint folder, in eval mode, with the config's speed paths."""
        from advlab.precision import speed_paths

        return speed_paths(load(checkpoint, self.device), **self.cfg.speed())

    def artifact(self, name: str) -> str:
        """The dataset artifact folder of constructed set ``name`` (``construct_<name>``)."""
        stage = f"construct_{name}"
        return str(self.ctx.path(stage, self.results[stage]["path"]))

    # ------------------------------------------------------------ stage bodies
    def train_on_data(self, d: Path, settings: TrainSettings, data: Data, label: str,
                      adv_eps: float | None = None, arch: str | None = None,
                      model_kwargs: dict[str, Any] | None = None,
                      seed: int | None = None, curves: bool = False) -> dict[str, Any]:
        return train_model(
            d, settings, data, self.test, arch=arch or self.cfg.arch,
            model_kwargs=self.cfg.model_kwargs if model_kwargs is None else model_kwargs,
            seed=self.seed if seed is None else seed, device=self.device, label=label,
            adv_eps=adv_eps, adv_steps=self.cfg.robust_steps, curves=curves, speed=self.cfg.speed())

    def construct_set(self, d: Path, name: str) -> dict[str, Any]:
        kind, source, init = CONSTRUCTIONS[name]
        n = {"image": self.cfg.n_construct, "noise": self.cfg.n_construct_noise,
             None: self.cfg.n_relabel}[init]
        size = self.full_train[0].shape[0]
        n = size if n is None else min(n, size)  # None: every training image
        return construct(d, kind, self.cfg, source=self.ckpt(f"source_{source}"),
                         dataset=self.cfg.dataset, seed=self.seed, device=self.device,
                         data_root=self.data_root, n=n, init=init)

    def construct_test_set(self, d: Path) -> dict[str, Any]:
        """Table 8's D_R test set: the inversion applied to test images."""
        return construct(d, "robust", self.cfg, source=self.ckpt("source_robust"),
                         dataset=self.cfg.dataset, seed=derive_seed(self.seed, "d_r_test"),
                         device=self.device,
                         data_root=self.data_root, split="test",
                         n=min(self.cfg.n_construct_test, self.test[0].shape[0]), init="image")

    def train_on_set(self, d: Path, name: str) -> dict[str, Any]:
        """Train on constructed set ``name``; D_rand / D_det record the test accuracy of every
        epoch (Figure 10's curves), the others only the final model's."""
        return self.train_on_data(d, self.cfg.train_settings(name), load_dataset(self.artifact(name)),
                                  name, curves=name.startswith(FIGURE10_SETS))

    def original_like(self, name: str) -> Data:
        """The unmodified training images (and labels) a constructed set was built from."""
        idx = sample_index(self.artifact(name))
        x, y = self.full_train
        return x[idx], y[idx]

    def transfer_models(self, d: Path, label: str) -> dict[str, Any]:
        """Figure 3: one architecture trained on D (transfer target) and on D_det (accuracy)."""
        arch, kwargs = transfer_model(label, self.cfg)
        scale = TRANSFER_LR_SCALE.get(label, 1.0)
        on_d = self.train_on_data(d / "on_d", _scaled_lr(self.cfg.transfer_train, scale),
                                  subset(self.train, self.cfg.transfer_n_train,
                                         derive_seed(self.seed, "transfer_data")),
                                  f"D ({label})", arch=arch, model_kwargs=kwargs,
                                  seed=derive_seed(self.seed, "transfer_model"))
        on_d["checkpoint"] = f"on_d/{on_d['checkpoint']}"
        if reuses_d_det(arch, kwargs, self.cfg):
            on_det = dict(self.results["train_d_det"])  # same data, settings and seed: reuse
            on_det["checkpoint"] = f"../train_d_det/{on_det['checkpoint']}"
        else:
            on_det = self.train_on_data(d / "on_d_det", _scaled_lr(self.cfg.det_train, scale),
                                        load_dataset(self.artifact("d_det")), f"d_det ({label})",
                                        arch=arch, model_kwargs=kwargs)
            on_det["checkpoint"] = f"on_d_det/{on_det['checkpoint']}"
        return {"arch": arch, "model_kwargs": kwargs, "on_d": on_d, "on_d_det": on_det}


def stages(ctx: RunContext) -> list[Stage]:
    """Every stage of the recipe, in run order."""
    run, cfg = Ilyas(ctx), ctx.config
    out = [Stage("source_standard", lambda d: run.train_on_data(d, cfg.source_train, run.train, "D")),
           Stage("source_robust", lambda d: run.train_on_data(
               d, cfg.robust_train, run.train, "D (adversarial)", adv_eps=cfg.robust_eps))]
    for group in (("d_r", "d_nr"), ("d_rand", "d_det"), ("d_rand_robust", "d_det_robust"),
                  ("d_r_noise", "d_nr_noise")):
        out += [Stage(f"construct_{n}", functools.partial(run.construct_set, name=n)) for n in group]
        out += [Stage(f"train_{n}", functools.partial(run.train_on_set, name=n)) for n in group]
        if group[0] == "d_r":
            out.append(Stage("train_original", lambda d: run.train_on_data(
                d, cfg.constructed_train, run.original_like("d_r"), "D (same images as D_R)")))
            out += [Stage(f"eval_table7_{row}", functools.partial(evals.table7_row, run, row=row))
                    for row in ("standard", "adversarial", "d_r", "d_nr", "original")]
        if group[0] == "d_rand_robust":
            out.append(Stage("eval_relabel", functools.partial(evals.relabel_tables, run)))
    out.append(Stage("train_original_noise", lambda d: run.train_on_data(
        d, cfg.constructed_train, run.original_like("d_r_noise"), "D (same images as D_R from noise)")))
    out += [Stage(f"eval_table7_{row}", functools.partial(evals.table7_row, run, row=row))
            for row in ("d_r_noise", "d_nr_noise", "original_noise")]
    out += [Stage("construct_d_r_test", run.construct_test_set),
            Stage("eval_table8", functools.partial(evals.table8, run)),
            Stage("eval_figure8", functools.partial(evals.figure8, run))]
    out += [Stage(f"transfer_{label}", functools.partial(run.transfer_models, label=label))
            for label in cfg.transfer_archs]
    out.append(Stage("eval_transfer", functools.partial(evals.transfer, run)))
    return out


def _scaled_lr(settings: TrainSettings, scale: float) -> TrainSettings:
    """``settings`` with its learning rate multiplied by ``scale`` (unchanged when 1)."""
    return settings if scale == 1.0 else dataclasses.replace(settings, lr=settings.lr * scale)


def train_model(out: Path, settings: TrainSettings, train_data: Data, test_data: Data, *,
                arch: str, model_kwargs: dict[str, Any], seed: int, device: str,
                label: str, adv_eps: float | None = None, adv_steps: int = 7,
                curves: bool = False, speed: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train one model with ``advlab.train`` into ``out``; return its history.

    The returned ``checkpoint`` is relative to ``out`` (run folders can be moved).
    ``adv_eps`` switches on L2 PGD adversarial training (Table 4: ``adv_steps`` steps of
    size eps/5, starting at the image). The checkpoint used downstream is ``last/``: the
    paper reports the last iterate (Appendix D.4: no validation set from D exists).
    ``curves``: measure the test set after every epoch (Figure 10), not only after the last.
    ``speed``: the speed paths (``precision``, ``channels_last``, ``compile``).
    """
    from advlab.train import AdvConfig, TrainConfig, train

    adversarial = None if adv_eps is None else AdvConfig(kind="pgd", norm="l2", eps=adv_eps,
                                                         steps=adv_steps)
    cfg = TrainConfig(
        dataset=label, model=arch, model_kwargs=dict(model_kwargs), epochs=settings.epochs,
        batch_size=settings.batch_size, optimizer=settings.optimizer, lr=settings.lr,
        momentum=settings.momentum, weight_decay=settings.weight_decay,
        lr_drop_epochs=settings.lr_drop_epochs, augment=settings.augment,
        adversarial=adversarial, seed=seed, device=device, eval_every=1 if curves else 0,
        **(speed or {}),
    )
    history = [{"epoch": int(r.get("epoch", i)), "train_acc": r.get("train_acc"),
                "test_acc": r.get("test_acc")}
               for i, r in enumerate(train(cfg, out, train_data=train_data, test_data=test_data).history)]
    return {"checkpoint": "last", "history": history,
            "test_acc": history[-1]["test_acc"] if history else None}


def load(checkpoint: str, device: str) -> nn.Module:
    """A trained model in eval mode."""
    from advlab.models import load_model

    model: nn.Module = load_model(checkpoint, device=device)
    return model.eval()


def construct(out: Path, kind: str, cfg: IlyasConfig, *, source: str, dataset: str, seed: int,
              device: str, data_root: str | None, split: str = "train", n: int | None = None,
              init: str | None = None) -> dict[str, Any]:
    """Build D_R / D_NR (``robust`` / ``nonrobust``) or D_rand / D_det (``rand`` / ``det``).

    Hyper-parameters come from the config (Table 5 / Table 6, scaled); the artifact is
    written to ``out/data`` by :func:`advlab.features.construct_dataset`, which resumes
    from its finished shards after a kill. Returns the card's statistics and the path
    (``"data"``, relative to ``out``).
    """
    from advlab.data.artifact import read_card
    from advlab.features import construct_dataset

    kw: dict[str, Any]
    if kind in ("robust", "nonrobust"):
        steps = cfg.noise_steps if init == "noise" else cfg.robustify_steps
        kw = {"steps": steps, "step_size": cfg.robustify_step_size, "init": init or "image",
              "optimizer": cfg.robustify_optimizer, "tol": cfg.robustify_tol}
    else:
        kw = {"steps": cfg.relabel_steps, "step_size": cfg.relabel_step_size, "eps": cfg.relabel_eps}
    path = construct_dataset(
        kind, source_checkpoint=source, dataset=dataset, out=out / "data", split=split,  # type: ignore[arg-type]  # kind is one of the four names
        seed=seed, shard_size=cfg.shard_size, n=n, device=device, data_root=data_root, **kw,
        **cfg.speed(),
    )
    stats = read_card(path).get("provenance", {}).get("stats", {})
    return {"path": "data", "kind": kind, "split": split, "n": n, **kw, "stats": stats}


def sample_index(artifact: str) -> torch.Tensor:
    """The source index of every constructed sample (its row in the source split), (N,)."""
    from safetensors.torch import load_file

    from advlab.features.construct import SAMPLES_FILE

    return load_file(str(Path(artifact) / SAMPLES_FILE))["index"]
