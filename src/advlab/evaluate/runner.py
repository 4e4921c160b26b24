"""The attack of an evaluation (``EvalConfig.attack``) run on the points still robust.

* ``"default"``: the default robust-accuracy protocol (:func:`advlab.evaluate.robust_flags`:
  APGD-CE then APGD-DLR, or PGD with a fixed ``step_size``);
* ``"autoattack"``: the standard AutoAttack ensemble (:func:`advlab.evaluate.autoattack`:
  APGD-CE, APGD-T, FAB-T, Square); ``"autoattack-plus"``: its stronger ``plus`` version;
  ``"autoattack-apgd"``: its APGD-CE and APGD-T only.

Each eps attacks only the points that are classified correctly, not marked fooled by the
``prior`` flags at that eps (an earlier attack), and not fooled at a smaller eps of the
same run (the balls nest).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from advlab.report.format import eps_key

if TYPE_CHECKING:
    from advlab.evaluate.protocol import EvalConfig

#: ``EvalConfig.attack`` -> the AutoAttack version it runs (None: the default protocol)
ATTACKS: dict[str, str | None] = {"default": None, "autoattack": "standard",
                                  "autoattack-plus": "plus", "autoattack-apgd": "apgd"}
#: steps and restarts of the default protocol when the config leaves them unset
DEFAULT_STEPS, DEFAULT_RESTARTS = 20, 1


def describe_attack(cfg: EvalConfig) -> dict[str, Any]:
    """What ``cfg.attack`` runs, for results.json and the flags' records."""
    from advlab.evaluate.autoattack import VERSIONS

    version = ATTACKS[cfg.attack]
    if version is not None:
        runs = ("5 restarts of APGD-CE, APGD-DLR and FAB, 1 of the others"
                if version == "plus" else "1 restart")
        return {"name": cfg.attack, "version": version, "members": list(VERSIONS[version]),
                "settings": "fixed by the version (AutoAttack's: 100 iterations per gradient "
                            f"attack, 9 target classes, Square 5,000 queries, {runs})"}
    steps = DEFAULT_STEPS if cfg.steps is None else cfg.steps
    restarts = DEFAULT_RESTARTS if cfg.restarts is None else cfg.restarts
    members = ["apgd-ce", "apgd-dlr"] if cfg.step_size is None else ["pgd"]
    return {"name": "default", "members": members, "steps": steps, "restarts": restarts,
            "step_size": cfg.step_size}


def _and(*masks: Tensor | None) -> Tensor | None:
    out: Tensor | None = None
    for m in masks:
        if m is not None:
            out = m.clone() if out is None else out & m
    return out


def run_attack(cfg: EvalConfig, model: nn.Module, x: Tensor, y: Tensor, correct: Tensor,
               prior: dict[float, Tensor | None]) -> tuple[dict[float, Tensor], dict[str, Any]]:
    """Robust flags ``{eps: (N,) bool}`` of ``cfg.attack`` on x (N,C,H,W), y (N,).

    Args:
        correct: (N,) bool, the clean predictions that are right.
        prior: per eps of ``cfg.eps``, (N,) bool flags of earlier attacks (None: none).
    Returns:
        the flags (already ANDed with ``prior``) and ``{"attacked": {eps key: points
        attacked}, "accuracy_after": {eps key: {member: accuracy}}}`` (the latter for
        AutoAttack: robust accuracy over all N points after each member, in order).
    """
    eps_list = sorted(set(cfg.eps))
    flags: dict[float, Tensor] = {}
    attacked: dict[str, int] = {}
    after: dict[str, dict[str, float]] = {}
    version = ATTACKS[cfg.attack]
    if version is None and all(prior.get(e) is None for e in eps_list):
        flags = _default(cfg, model, x, y, eps_list, None, checks=cfg.checks)  # one nested call
    prev: Tensor | None = None
    for e in eps_list:
        mask = _and(correct, prior.get(e), prev)
        assert mask is not None  # correct is a tensor
        attacked[eps_key(e)] = int(mask.sum())
        if e in flags:
            pass
        elif version is None:
            flags[e] = _default(cfg, model, x, y, [e], mask, checks=False)[e]
        else:
            from advlab.evaluate.autoattack import autoattack

            res = autoattack(model, x, y, norm=cfg.norm, eps=e, version=version, seed=cfg.seed,
                             robust=mask)
            flags[e], after[eps_key(e)] = res.robust, res.accuracy_after
        flags[e] = flags[e] & mask
        prev = flags[e]
    if cfg.checks and (version is not None or any(prior.get(e) is not None for e in eps_list)):
        _checks(cfg, model, x, y, flags)
    info: dict[str, Any] = {"attacked": attacked}
    if after:
        info["accuracy_after"] = after
    return {e: flags[e] for e in cfg.eps}, info


def _default(cfg: EvalConfig, model: nn.Module, x: Tensor, y: Tensor, eps: list[float],
             mask: Tensor | None, *, checks: bool) -> dict[float, Tensor]:
    from advlab.evaluate.accuracy import robust_flags

    return robust_flags(model, x, y, norm=cfg.norm, eps=eps,
                        steps=DEFAULT_STEPS if cfg.steps is None else cfg.steps,
                        step_size=cfg.step_size,
                        restarts=DEFAULT_RESTARTS if cfg.restarts is None else cfg.restarts,
                        seed=cfg.seed, checks=checks, robust=mask)


def _checks(cfg: EvalConfig, model: nn.Module, x: Tensor, y: Tensor,
            flags: dict[float, Tensor]) -> None:
    """The automatic checks (:mod:`advlab.evaluate.checks`) after a masked or AutoAttack run:
    the evaluated attack is represented by the default protocol's attack (AutoAttack: its
    first member, APGD-CE with 100 iterations)."""
    from advlab.attacks.apgd import APGD
    from advlab.evaluate.accuracy import protocol_attack
    from advlab.evaluate.checks import check_attack, check_model

    if ATTACKS[cfg.attack] is None:
        attack = protocol_attack(norm=cfg.norm, step_size=cfg.step_size, seed=cfg.seed,
                                 steps=DEFAULT_STEPS if cfg.steps is None else cfg.steps,
                                 restarts=DEFAULT_RESTARTS if cfg.restarts is None else cfg.restarts)
    else:
        attack = APGD(norm=cfg.norm, steps=100, loss="ce", restarts=1, seed=cfg.seed)
    check_model(model, x)
    check_attack(model, x, y, attack=attack, fooled={e: ~f for e, f in flags.items()})


def correct_mask(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """(N,) bool: the clean prediction is ``y`` (eval mode, mode restored)."""
    from advlab.attacks.base import predict_logits
    from advlab.attacks.mode import eval_mode

    with eval_mode(model), torch.no_grad():
        return predict_logits(model, x).argmax(1) == y


__all__ = ["ATTACKS", "correct_mask", "describe_attack", "run_attack"]
