"""``advlab attack --attack NAME --eps E``: one fixed-eps attack (or the AutoAttack ensemble)
on a checkpoint's points, its success and, with ``save``, the adversarial examples.

The attacks: ``pgd``, ``apgd`` (APGD-CE), ``apgd-t`` (APGD-T, 9 targets), ``fab-t`` (FAB-T, 9
targets), ``square`` (5,000 queries) with AutoAttack's settings (``steps`` overrides the
iterations of the gradient attacks, 100 by default; PGD: 20), and ``autoattack``, the
standard ensemble (:func:`advlab.evaluate.autoattack`). The examples are saved as for the
minimum-norm attacks (:func:`advlab.evaluate.saving.save_adversarial`): ``x_adv`` where the
point is misclassified (by the attack or already clean), else the clean point, with
``success``, ``norms`` (inf where the attack failed) and the attack's provenance.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from advlab.attacks import APGD, APGDT, FABT, PGD, AttackResult, FixedEpsAttack, Square
from advlab.attacks.base import predict_logits
from advlab.attacks.threat import Box, check_eps, check_norm, norms
from advlab.errors import bad_argument
from advlab.evaluate.protocol import Points

ATTACKS: tuple[str, ...] = ("pgd", "apgd", "apgd-t", "fab-t", "square", "autoattack")


@dataclass(frozen=True)
class EpsAttackConfig(Points):
    """One fixed-eps attack: ``attack`` (see :data:`ATTACKS`), ``norm``, ``eps``, ``steps``
    (None: 100, PGD 20) and the box."""

    attack: str = "apgd"
    norm: str = "l2"
    eps: float = 0.5
    steps: int | None = None
    box: Box = (0.0, 1.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.attack not in ATTACKS:
            raise bad_argument("attack", self.attack, " or ".join(ATTACKS))
        check_norm(self.norm)
        check_eps(self.eps)
        if self.steps is not None and self.steps < 1:
            raise bad_argument("steps", self.steps, "an integer >= 1")


def make_attack(cfg: EpsAttackConfig) -> FixedEpsAttack | None:
    """The attack of ``cfg`` (None for ``autoattack``, run by its function)."""
    steps = cfg.steps or (20 if cfg.attack == "pgd" else 100)
    kw: dict[str, Any] = {"norm": cfg.norm, "box": cfg.box, "seed": cfg.seed}
    made: dict[str, Any] = {
        "pgd": lambda: PGD(steps=steps, **kw), "apgd": lambda: APGD(steps=steps, **kw),
        "apgd-t": lambda: APGDT(steps=steps, **kw), "fab-t": lambda: FABT(steps=steps, **kw),
        "square": lambda: Square(**kw), "autoattack": lambda: None}
    result: FixedEpsAttack | None = made[cfg.attack]()
    return result


def run_attack(cfg: EpsAttackConfig, model: nn.Module, x: Tensor, y: Tensor
               ) -> tuple[AttackResult, dict[str, Any]]:
    """Attack x (N,C,H,W), y (N,): a result with x_adv = x where the point stays correct and
    norms inf there, and a description of the attack (class and settings)."""
    attack = make_attack(cfg)
    if attack is None:
        from advlab.evaluate.autoattack import autoattack, ensemble

        res = autoattack(model, x, y, norm=cfg.norm, eps=cfg.eps, seed=cfg.seed, box=cfg.box)
        x_adv = res.x_adv
        about: dict[str, Any] = {"class": "autoattack", "version": res.version,
                                 "members": {n: a.config for n, a in
                                             ensemble(cfg.norm, seed=cfg.seed, box=cfg.box)}}
    else:
        x_adv = attack(model, x, y, eps=cfg.eps).x_adv
        about = {"class": type(attack).__name__, "config": attack.config}
    success = predict_logits(model, x_adv).argmax(1) != y
    clean = predict_logits(model, x).argmax(1) != y
    x_adv = torch.where(success.view(-1, *[1] * (x.dim() - 1)), x_adv, x)
    n = norms(x_adv - x, cfg.norm)
    n = torch.where(success, n, torch.full_like(n, float("inf")))
    return AttackResult(x_adv, success, n, cfg.norm, cfg.eps, clean), about


def attack_eps(cfg: EpsAttackConfig, *, command: str = "",
               save: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Run the attack of ``cfg``; with ``save`` write the examples as a dataset artifact
    (refused if ``save`` exists). Returns n, clean and robust accuracy, the success rate
    on the points correct before the attack, and where the examples were saved."""
    from advlab.evaluate.protocol import _attacking, _weights_sha256
    from advlab.evaluate.saving import check_save_dir

    if save is not None:
        check_save_dir(save)
    with _attacking(cfg) as (model, x, y, messages, index):
        result, about = run_attack(cfg, model, x, y)
    ok, clean = result.success, result.clean_success
    out: dict[str, Any] = {
        "attack": cfg.attack, "norm": cfg.norm, "eps": cfg.eps, "n": len(x),
        "clean_accuracy": float((~clean).float().mean()),
        "robust_accuracy": float((~ok).float().mean()),
        "success_rate": float(ok[~clean].float().mean()) if (~clean).any() else float("nan"),
        "warnings": messages}
    if save is not None:
        out["saved"] = _save(cfg, save, result, y, index, about, out, command,
                             _weights_sha256(cfg.checkpoint))
    return out


def _save(cfg: EpsAttackConfig, save: str | os.PathLike[str], result: AttackResult, y: Tensor,
          index: Tensor, about: dict[str, Any], stats: dict[str, Any], command: str,
          weights_sha256: str) -> dict[str, Any]:
    from advlab.data import open_source
    from advlab.data.artifact import UNIT_RANGE, is_artifact, read_card
    from advlab.evaluate.saving import save_adversarial

    source: dict[str, Any] = {"name": cfg.dataset, "split": cfg.split}
    if is_artifact(Path(cfg.dataset)):
        source["sha256"] = read_card(cfg.dataset)["sha256"]
    prov = {"constructor": "advlab.evaluate.attack_eps.attack_eps (advlab attack --save)",
            "description": f"{cfg.attack} adversarial examples at {cfg.norm} eps {cfg.eps:g}; "
                           "x is x_adv where the point is misclassified, else x; y the true "
                           "label",
            "attack": {**about, "norm": cfg.norm, "eps": cfg.eps},
            "source_model": {"sha256": weights_sha256, "path": cfg.checkpoint},
            "source_dataset": source, "n": cfg.n, "seed": cfg.seed, "command": command,
            "config": dataclasses.asdict(cfg),
            "stats": {k: stats[k] for k in ("clean_accuracy", "robust_accuracy",
                                            "success_rate")}}
    classes = open_source(cfg.dataset, cfg.split, cfg.data_root).classes
    path = save_adversarial(save, result, y, index=index, name=f"{cfg.attack}:{cfg.dataset}",
                            classes=list(classes), provenance=prov,
                            value_range=UNIT_RANGE if cfg.box == UNIT_RANGE else None)
    return {"path": str(path), "n": len(y), "sha256": read_card(path)["sha256"]}


__all__ = ["ATTACKS", "EpsAttackConfig", "attack_eps", "make_attack", "run_attack"]
