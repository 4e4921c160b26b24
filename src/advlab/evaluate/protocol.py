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
from advlab.precision import check_precision, speed_paths
from advlab.provenance import environment
from advlab.report import Report
from advlab.report.format import eps_key
from advlab.seeding import seed_everything, seeded_subset
from advlab.store import RunDir, atomic_path, atomic_write_json, sha256_file, to_jsonable

Box = tuple[float, float] | Literal["per-sample"] | None


@dataclass(frozen=True)
class Points:
    """Which points of which model: a checkpoint, a dataset split and a seeded subset.

    ``trust_unverified`` loads a checkpoint whose config.json has no weights hash (with a
    warning); without it such a checkpoint is refused. ``precision``, ``channels_last`` and
    ``compile`` are the model's speed paths (:func:`advlab.precision.speed_paths`: attacks
    run in that precision, success and accuracy are decided in float32).
    """

    checkpoint: str
    dataset: str
    split: str = "test"
    n: int | None = None
    seed: int = 0
    device: str = "cpu"
    data_root: str | None = None
    trust_unverified: bool = False
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool = False
    compile: bool = False

    def __post_init__(self) -> None:
        if self.n is not None and self.n < 1:
            raise bad_argument("n", self.n, "a number of points >= 1")
        check_precision(self.precision, self.device)


@dataclass(frozen=True)
class EvalConfig(Points):
    """Clean and robust accuracy (untargeted).

    Attributes:
        eps: radii (empty: clean accuracy only); norm: ``l2`` or ``linf``.
        attack: ``"default"`` (the default protocol of
            :func:`advlab.evaluate.robust_accuracy`), ``"autoattack"`` (the standard
            AutoAttack ensemble, :func:`advlab.evaluate.autoattack`),
            ``"autoattack-plus"`` (its ``plus`` version) or ``"autoattack-apgd"`` (its
            APGD-CE and APGD-T only).
        steps, step_size, restarts: the default protocol's settings (None: 20 steps, the
            adaptive APGD step, 1 restart); AutoAttack fixes its own, so they must stay None.
        checks: run the automatic sanity checks (:mod:`advlab.evaluate.checks`).
    """

    eps: tuple[float, ...] = ()
    norm: Literal["l2", "linf"] = "l2"
    attack: Literal["default", "autoattack", "autoattack-plus", "autoattack-apgd"] = "default"
    steps: int | None = None
    step_size: float | None = None
    restarts: int | None = None
    checks: bool = True

    def __post_init__(self) -> None:
        from advlab.evaluate.flags import MAX_EPS
        from advlab.evaluate.runner import ATTACKS

        super().__post_init__()
        for e in self.eps:
            if not 0 <= e < float("inf"):
                raise bad_argument("eps", list(self.eps), "finite numbers >= 0")
        if len(self.eps) > MAX_EPS:
            raise bad_argument("eps", f"{len(self.eps)} radii", f"at most {MAX_EPS}")
        if self.attack not in ATTACKS:
            raise bad_argument("attack", self.attack, " or ".join(map(repr, ATTACKS)))
        if self.steps is not None and self.steps < 0:
            raise bad_argument("steps", self.steps, "an integer >= 0")
        if self.restarts is not None and self.restarts < 1:
            raise bad_argument("restarts", self.restarts, "an integer >= 1")
        if self.step_size is not None and not 0 < self.step_size < float("inf"):
            raise bad_argument("step_size", self.step_size, "a finite number > 0")
        if self.attack != "default":
            for name in ("steps", "step_size", "restarts"):
                if getattr(self, name) is not None:
                    raise bad_argument(name, getattr(self, name), f"no {name} with attack="
                                       f"{self.attack!r}", "AutoAttack fixes every setting")


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
    model, x, y, _ = _load_points(p)
    return model, x, y


def _load_points(p: Points) -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`load_points` and the points' positions in the split, (n,) int64."""
    from advlab.data import load_dataset
    from advlab.models import load_model

    model = load_model(p.checkpoint, device=p.device, trust_unverified=p.trust_unverified)
    model = speed_paths(model, precision=p.precision, channels_last=p.channels_last,
                        compile=p.compile)
    x, y = load_dataset(p.dataset, split=p.split, data_root=p.data_root)
    takes = getattr(model, "in_shape", None)
    if takes is not None and tuple(x.shape[1:]) != tuple(takes):
        raise AdvlabError(f"dataset: {p.dataset!r} holds images of shape {tuple(x.shape[1:])}, but "
                          f"the checkpoint {p.checkpoint!r} takes images of shape {tuple(takes)}; "
                          "evaluate it on data like the data it was trained on", param="dataset")
    idx = torch.arange(len(x))
    if p.n is not None and p.n < len(x):
        idx = seeded_subset(len(x), p.n, p.seed)
        x, y = x[idx], y[idx]
    return model, x.to(p.device), y.to(p.device), idx


def _weights_sha256(checkpoint: str) -> str:
    from advlab.models.checkpoint import WEIGHTS, checkpoint_folder

    return sha256_file(checkpoint_folder(checkpoint) / WEIGHTS)


def _config_key(cfg: Points, kind: str) -> tuple[dict[str, Any], str]:
    """The cache document (kind, weights hash, config) and its key."""
    doc = {"kind": kind, "weights_sha256": _weights_sha256(cfg.checkpoint),
           "config": to_jsonable(dataclasses.asdict(cfg))}
    return doc, hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


Compute = Callable[[Path | None], dict[str, Any]]


def _cached(cfg: Points, kind: str, out: str | Path | None, force: bool, compute: Compute,
            salt: str | None = None) -> tuple[dict[str, Any], RunDir | None, Path | None]:
    """Run ``compute(stage folder)`` once per (weights hash, config, ``salt``) inside ``out``;
    read it back after. Returns the results, the run folder and the stage folder."""
    if out is None:
        return compute(None), None, None
    doc, key = _config_key(cfg, kind)
    if salt is not None:  # e.g. the robust flags an evaluation starts from
        key = hashlib.sha256(f"{key}|{salt}".encode()).hexdigest()[:16]
    existed = Path(out).exists()
    run = RunDir(out, force=force)
    try:
        results: dict[str, Any] = run.stage(f"{kind}-{key}", compute)
    except BaseException:
        if not existed:  # nothing half-written is left behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    atomic_write_json(run.path("config.json"), {**doc, "provenance": environment(cfg.device)})
    atomic_write_json(run.path("results.json"), results)
    return results, run, run.path(f"{kind}-{key}")


@contextlib.contextmanager
def _attacking(cfg: Points) -> Iterator[tuple[nn.Module, torch.Tensor, torch.Tensor, list[str],
                                              torch.Tensor]]:
    """Seed, load the model and the points (and their positions in the split), and collect
    the sanity warnings raised inside (their messages are appended to the yielded list when
    the block ends)."""
    from advlab.attacks.sanity import SanityWarning

    seed_everything(cfg.seed)
    model, x, y, index = _load_points(cfg)
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SanityWarning)
        yield model, x, y, messages, index
    messages += [str(w.message) for w in caught if issubclass(w.category, SanityWarning)]


def evaluate(cfg: EvalConfig, out: str | Path | None = None, *, force: bool = False,
             command: str = "") -> dict[str, Any]:
    """Clean accuracy and, for each eps, robust accuracy of ``cfg.checkpoint``.

    With ``out`` and ``cfg.eps``, per-sample robust flags are kept in
    ``out/robust_flags.safetensors`` (:mod:`advlab.evaluate.flags`): a later evaluation of
    the same weights on the same points in the same folder (e.g. with a stronger attack)
    attacks only the points they mark robust, and its robust accuracy counts every attack
    that touched them. ``force`` recomputes and starts from no flags.

    Returns:
        ``{"n", "clean_accuracy", "warnings": [...]}`` and, with ``cfg.eps``,
        ``"robust_accuracy": {eps key: acc}``, ``"attack"`` (what ran), ``"attacked"``
        (points attacked per eps), ``"accuracy_after"`` (AutoAttack: per member) and, with
        ``out``, ``"robust_flags"`` (file, sha256, the record of every attack that touched
        them); written to ``out`` when given.
    """
    from advlab.evaluate.flags import FLAGS_FILE

    prior, salt = _prior_flags(cfg, out, force)

    def compute(stage: Path | None) -> dict[str, Any]:
        from advlab.evaluate.accuracy import clean_accuracy

        with _attacking(cfg) as (model, x, y, messages, _):
            res: dict[str, Any] = {"n": len(x), "clean_accuracy": clean_accuracy(model, x, y)}
            if cfg.eps:
                res.update(_robust(cfg, model, x, y, prior, salt, stage, command, messages))
        return {**res, "warnings": messages}

    results, run, stage = _cached(cfg, "evaluate", out, force, compute, salt)
    if run is not None and stage is not None and (stage / FLAGS_FILE).exists():
        _publish(stage / FLAGS_FILE, run.path(FLAGS_FILE))
    if run is not None:
        _eval_report(cfg, results, command, run)
    return results


def _prior_flags(cfg: EvalConfig, out: str | Path | None, force: bool) -> tuple[Any, str | None]:
    """The saved flags an evaluation starts from, and the cache salt naming them: the
    flags' file hash, or - when the last attack that touched them is this very evaluation,
    i.e. a rerun - the hash it started from (so the rerun reads its cached result)."""
    from advlab.evaluate.flags import FLAGS_FILE, read_flags

    if out is None or not cfg.eps:
        return None, None
    path = Path(out) / FLAGS_FILE
    if force or not path.is_file():
        return None, "none"
    rf = read_flags(path)
    last = rf.attacks[-1] if rf.attacks else {}
    if last.get("config_key") == _config_key(cfg, "evaluate")[1] and \
            isinstance(last.get("prior_sha256"), str):
        return rf, last["prior_sha256"]
    return rf, sha256_file(path)


def _robust(cfg: EvalConfig, model: nn.Module, x: torch.Tensor, y: torch.Tensor, prior: Any,
            salt: str | None, stage: Path | None, command: str,
            messages: list[str]) -> dict[str, Any]:
    """Robust accuracy of ``cfg.attack`` starting from the ``prior`` flags (if they belong to
    this model and these points); with a ``stage`` folder, the updated flags are written there."""
    from advlab.evaluate.flags import (
        FLAGS_FILE,
        MAX_COMMAND,
        RobustFlags,
        points_sha256,
        write_flags,
    )
    from advlab.evaluate.runner import correct_mask, describe_attack, run_attack

    wsha, psha = _weights_sha256(cfg.checkpoint), points_sha256(x, y)
    rf = prior
    if rf is not None and (rf.weights_sha256, rf.points_sha256, rf.n) != (wsha, psha, len(x)):
        messages.append(f"{FLAGS_FILE} held the flags of another checkpoint or of other points: "
                        "not used, and replaced by this evaluation's")
        rf = None
    rf = rf if rf is not None else RobustFlags(wsha, psha, len(x))
    priors = {e: rf.prior(cfg.norm, e) for e in cfg.eps}
    flags, info = run_attack(cfg, model, x, y, correct_mask(model, x, y),
                             {e: None if p is None else p.to(x.device) for e, p in priors.items()})
    res: dict[str, Any] = {"robust_accuracy": {eps_key(e): float(f.float().mean())
                                               for e, f in flags.items()},
                           "attack": describe_attack(cfg), **info}
    if stage is not None:
        fooled = {eps_key(e): info["attacked"][eps_key(e)] - int(f.sum()) for e, f in flags.items()}
        rf.update(cfg.norm, flags, {
            "attack": res["attack"], "norm": cfg.norm, "eps": [eps_key(e) for e in cfg.eps],
            "seed": cfg.seed, "attacked": info["attacked"], "fooled": fooled,
            "config_key": _config_key(cfg, "evaluate")[1], "prior_sha256": salt,
            "command": command[:MAX_COMMAND]})
        write_flags(stage / FLAGS_FILE, rf)
        res["robust_flags"] = {"file": FLAGS_FILE, "sha256": sha256_file(stage / FLAGS_FILE),
                               "attacks": rf.attacks}
    return res


def _per_eps(counts: dict[str, int]) -> str:
    return ", ".join(f"eps {k}: {v}" for k, v in counts.items())


def _publish(src: Path, dest: Path) -> None:
    """Copy a stage's flags to the run folder (atomically; nothing when already there)."""
    if dest.is_file() and sha256_file(dest) == sha256_file(src):
        return
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def _eval_report(cfg: EvalConfig, results: dict[str, Any], command: str, run: RunDir) -> None:
    rep = Report(f"Evaluation of {cfg.checkpoint} on {cfg.dataset}", command=command,
                 config=to_jsonable(dataclasses.asdict(cfg)))
    sec = rep.section("Accuracy")
    rows: list[list[Any]] = [["clean", results["clean_accuracy"]]]
    rows += [[f"{cfg.norm} eps={k}", v] for k, v in results.get("robust_accuracy", {}).items()]
    attack = results.get("attack", {})
    what = ", ".join(attack.get("members", []))
    if attack.get("name") == "default":
        what += f", {attack['steps']} steps, {attack['restarts']} restart(s)"
    sec.table(["attack", "accuracy"], rows, caption=f"{results['n']} points" +
              (f"; {attack['name']}: {what}" if attack else ""))
    after = results.get("accuracy_after", {})
    if after:
        members = list(next(iter(after.values())))
        sec.table(["eps", *members], [[k, *v.values()] for k, v in after.items()],
                  caption="robust accuracy after each attack of the ensemble (cumulative)")
    records = results.get("robust_flags", {}).get("attacks", [])
    if records:
        rep.section("Robust flags").table(
            ["#", "attack", "norm", "points attacked per eps", "fooled per eps"],
            [[i + 1, r["attack"]["name"], r["norm"], _per_eps(r["attacked"]), _per_eps(r["fooled"])]
             for i, r in enumerate(records)],
            caption="every attack that touched robust_flags.safetensors, in order; each "
                    "attacked only the points the ones before it left robust")
    _finish(rep, run, results, cfg, command)


def min_norm(cfg: MinNormConfig, out: str | Path | None = None, *, force: bool = False,
             command: str = "", save: str | Path | None = None) -> dict[str, Any]:
    """Minimal L2 perturbations: mean / median L2, success rate, per-pixel histogram.

    With ``out`` the histogram is drawn to ``out/figures/min_norm_hist_<method>.png``. With
    ``save`` the adversarial examples are written there as a dataset artifact
    (:func:`advlab.evaluate.saving.save_adversarial`; refused if ``save`` exists); the
    attack then runs even when ``out`` holds its cached result.
    """
    from advlab.evaluate.minnorm import min_norm_stats, plot_perturbation_histogram
    from advlab.evaluate.saving import check_save_dir

    if save is not None:
        check_save_dir(save)
    fig_name = f"min_norm_hist_{cfg.method}.png"

    def compute(_stage: Path | None) -> dict[str, Any]:
        from advlab.attacks import CWL2, FMN

        attack: Any = (FMN(steps=cfg.steps or 100, box=cfg.box) if cfg.method == "fmn" else
                       CWL2(steps=cfg.steps or 500, search_steps=cfg.search_steps, box=cfg.box))
        with _attacking(cfg) as (model, x, y, messages, index):
            result = attack(model, x, y)
        stats = {**min_norm_stats(result, x), "warnings": messages}
        if out is not None:
            plot_perturbation_histogram(stats, Path(out) / "figures" / fig_name,
                                        title=f"{cfg.method} on {cfg.dataset}")
        if save is not None:
            from advlab.evaluate.saving import save_min_norm

            stats["saved"] = save_min_norm(cfg, save, result, y, index, attack, stats, command,
                                           _weights_sha256(cfg.checkpoint))
        return stats

    results, run, _ = _cached(cfg, "attack", out, force or save is not None, compute)
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
