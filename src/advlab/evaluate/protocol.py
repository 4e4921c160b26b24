"""Evaluation protocols as library calls: a typed config, one function, a cache, a report.

* :class:`EvalConfig` + :func:`evaluate`: clean and robust accuracy of a checkpoint on a
  dataset (what ``advlab evaluate`` runs).
* :class:`MinNormConfig` + :func:`min_norm`: minimum-norm L2 statistics (what
  ``advlab attack --min-norm`` runs).

With ``out``, the result is cached in ``out`` under a key made of the checkpoint's weights
hash (sha256 of ``model.safetensors``) and the whole config: rerunning the same
evaluation reads it back, while retraining the checkpoint in place, or changing any
setting, computes anew. ``force`` recomputes. ``out`` also receives ``config.json``,
``results.json``, ``report.md`` and ``report.html``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import shutil
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from advlab.errors import AdvlabError, bad_argument
from advlab.provenance import environment
from advlab.report import Report
from advlab.report.format import eps_key
from advlab.seeding import seed_everything, seeded_subset
from advlab.store import RunDir, atomic_write_json, sha256_file, to_jsonable

Box = tuple[float, float] | Literal["per-sample"] | None


@dataclass(frozen=True)
class Points:
    """Which points of which model: a checkpoint, a dataset split and a seeded subset.

    ``trust_unverified`` loads a checkpoint whose config.json has no weights hash (with a
    warning); without it such a checkpoint is refused.
    """

    checkpoint: str
    dataset: str
    split: str = "test"
    n: int | None = None
    seed: int = 0
    device: str = "cpu"
    data_root: str | None = None
    trust_unverified: bool = False

    def __post_init__(self) -> None:
        if self.n is not None and self.n < 1:
            raise bad_argument("n", self.n, "a number of points >= 1")


@dataclass(frozen=True)
class EvalConfig(Points):
    """Clean and robust accuracy (untargeted PGD, :func:`advlab.evaluate.robust_accuracy`).

    Attributes:
        eps: radii (empty: clean accuracy only); norm: ``l2`` or ``linf``.
        steps, step_size, restarts: the PGD settings (``step_size=None``: the default
            protocol of :func:`~advlab.evaluate.robust_accuracy`).
        checks: run the automatic sanity checks (:mod:`advlab.evaluate.checks`).
    """

    eps: tuple[float, ...] = ()
    norm: Literal["l2", "linf"] = "l2"
    steps: int = 20
    step_size: float | None = None
    restarts: int = 1
    checks: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        for e in self.eps:
            if not 0 <= e < float("inf"):
                raise bad_argument("eps", list(self.eps), "finite numbers >= 0")
        if self.steps < 0:
            raise bad_argument("steps", self.steps, "an integer >= 0")
        if self.restarts < 1:
            raise bad_argument("restarts", self.restarts, "an integer >= 1")
        if self.step_size is not None and not 0 < self.step_size < float("inf"):
            raise bad_argument("step_size", self.step_size, "a finite number > 0")


@dataclass(frozen=True)
class MinNormConfig(Points):
    """A minimum-norm L2 attack: FMN (``steps`` default 100) or CW-L2 (default 500).

    Attributes:
        box: the valid input range: ``(0, 1)``, ``None`` (unbounded: synthetic data) or
            ``"per-sample"``.
    """

    method: Literal["fmn", "cw"] = "fmn"
    steps: int | None = None
    search_steps: int = 3
    box: Box = (0.0, 1.0)


def load_points(p: Points) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The model (eval mode, on ``p.device``) and the points: x (n, C, H, W), y (n,)."""
    from advlab.data import load_dataset
    from advlab.models import load_model

    model = load_model(p.checkpoint, device=p.device, trust_unverified=p.trust_unverified)
    x, y = load_dataset(p.dataset, split=p.split, data_root=p.data_root)
    takes = getattr(model, "in_shape", None)
    if takes is not None and tuple(x.shape[1:]) != tuple(takes):
        raise AdvlabError(f"dataset: {p.dataset!r} holds images of shape {tuple(x.shape[1:])}, but "
                          f"the checkpoint {p.checkpoint!r} takes images of shape {tuple(takes)}; "
                          "evaluate it on data like the data it was trained on", param="dataset")
    if p.n is not None and p.n < len(x):
        idx = seeded_subset(len(x), p.n, p.seed)
        x, y = x[idx], y[idx]
    return model, x.to(p.device), y.to(p.device)


def _weights_sha256(checkpoint: str) -> str:
    from advlab.models.checkpoint import WEIGHTS, checkpoint_folder

    return sha256_file(checkpoint_folder(checkpoint) / WEIGHTS)


def _cached(cfg: Points, kind: str, out: str | Path | None, force: bool,
            compute: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], RunDir | None]:
    """Run ``compute`` once per (weights hash, config) inside ``out``; read it back after."""
    if out is None:
        return compute(), None
    doc = {"kind": kind, "weights_sha256": _weights_sha256(cfg.checkpoint),
           "config": to_jsonable(dataclasses.asdict(cfg))}
    key = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]
    existed = Path(out).exists()
    run = RunDir(out, force=force)
    try:
        results: dict[str, Any] = run.stage(f"{kind}-{key}", lambda _d: compute())
    except BaseException:
        if not existed:  # nothing half-written is left behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    atomic_write_json(run.path("config.json"), {**doc, "provenance": environment(cfg.device)})
    atomic_write_json(run.path("results.json"), results)
    return results, run


@contextlib.contextmanager
def _attacking(cfg: Points) -> Iterator[tuple[nn.Module, torch.Tensor, torch.Tensor, list[str]]]:
    """Seed, load the model and the points, and collect the sanity warnings raised inside
    (their messages are appended to the yielded list when the block ends)."""
    from advlab.attacks.sanity import SanityWarning

    seed_everything(cfg.seed)
    model, x, y = load_points(cfg)
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SanityWarning)
        yield model, x, y, messages
    messages += [str(w.message) for w in caught if issubclass(w.category, SanityWarning)]


def evaluate(cfg: EvalConfig, out: str | Path | None = None, *, force: bool = False,
             command: str = "") -> dict[str, Any]:
    """Clean accuracy and, for each eps, robust accuracy of ``cfg.checkpoint``.

    Returns:
        ``{"n", "clean_accuracy", "robust_accuracy": {eps key: acc}, "warnings": [...]}``
        (robust accuracy only when ``cfg.eps``); written to ``out`` when given.
    """
    def compute() -> dict[str, Any]:
        from advlab.evaluate.accuracy import clean_accuracy, robust_accuracy

        with _attacking(cfg) as (model, x, y, messages):
            res: dict[str, Any] = {"n": len(x), "clean_accuracy": clean_accuracy(model, x, y)}
            if cfg.eps:
                acc = robust_accuracy(model, x, y, norm=cfg.norm, eps=list(cfg.eps), steps=cfg.steps,
                                      step_size=cfg.step_size, restarts=cfg.restarts,
                                      seed=cfg.seed, checks=cfg.checks)
                res["robust_accuracy"] = {eps_key(e): a for e, a in acc.items()}
        return {**res, "warnings": messages}

    results, run = _cached(cfg, "evaluate", out, force, compute)
    if run is not None:
        rep = Report(f"Evaluation of {cfg.checkpoint} on {cfg.dataset}", command=command,
                     config=to_jsonable(dataclasses.asdict(cfg)))
        sec = rep.section("Accuracy")
        rows: list[list[Any]] = [["clean", results["clean_accuracy"]]]
        rows += [[f"{cfg.norm} eps={k}", v] for k, v in results.get("robust_accuracy", {}).items()]
        sec.table(["attack", "accuracy"], rows, caption=f"{results['n']} points, PGD-{cfg.steps}, "
                  f"{cfg.restarts} restart(s)")
        _finish(rep, run, results, cfg, command)
    return results


def min_norm(cfg: MinNormConfig, out: str | Path | None = None, *, force: bool = False,
             command: str = "") -> dict[str, Any]:
    """Minimal L2 perturbations: mean / median L2, success rate, per-pixel histogram.

    With ``out`` the histogram is drawn to ``out/figures/min_norm_hist_<method>.png``.
    """
    from advlab.evaluate.minnorm import min_norm_stats, plot_perturbation_histogram

    fig_name = f"min_norm_hist_{cfg.method}.png"

    def compute() -> dict[str, Any]:
        from advlab.attacks import CWL2, FMN

        attack: Any = (FMN(steps=cfg.steps or 100, box=cfg.box) if cfg.method == "fmn" else
                       CWL2(steps=cfg.steps or 500, search_steps=cfg.search_steps, box=cfg.box))
        with _attacking(cfg) as (model, x, y, messages):
            result = attack(model, x, y)
        stats = {**min_norm_stats(result, x), "warnings": messages}
        if out is not None:
            plot_perturbation_histogram(stats, Path(out) / "figures" / fig_name,
                                        title=f"{cfg.method} on {cfg.dataset}")
        return stats

    results, run = _cached(cfg, "attack", out, force, compute)
    if run is not None:
        rep = Report(f"Minimum-norm attack on {cfg.checkpoint}", command=command,
                     config=to_jsonable(dataclasses.asdict(cfg)))
        sec = rep.section("Minimal L2 perturbations")
        sec.table(["n", "correct", "success rate", "mean L2", "median L2", "pixels within 5/255"],
                  [[results["n"], results["n_correct"], results["success_rate"], results["mean_l2"],
                    results["median_l2"], results["frac_pixels_within_5"]]],
                  caption="means over successful attacks on correctly classified points")
        sec.figure(f"figures/{fig_name}", "per-pixel |perturbation| on the 0-255 scale")
        _finish(rep, run, results, cfg, command)
    return results


def _finish(rep: Report, run: RunDir, results: dict[str, Any], cfg: Points, command: str) -> None:
    for msg in results["warnings"]:
        rep.sections[-1].text(f"**Warning:** {msg}")
    rep.section("Provenance").provenance(command, to_jsonable(dataclasses.asdict(cfg)), cfg.seed)
    rep.write(run.root)


__all__ = ["EvalConfig", "MinNormConfig", "Points", "evaluate", "load_points", "min_norm"]
