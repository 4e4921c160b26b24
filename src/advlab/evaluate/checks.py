"""Automatic sanity checks run after every evaluation (cheap: a subset of <= 100 points).

Each problem is reported as a :class:`SanityWarning` with a one-line explanation and a
pointer to ``docs/attacks.md#<anchor>``:

* ``train-mode`` - the model was in train mode (it is evaluated in eval mode);
* ``batch-dependence`` - logits of a sample differ alone vs inside a batch;
* ``probabilities`` - the model returns probabilities, not logits (at validation);
* ``more-steps`` - 2x steps and one more restart lower accuracy by more than 1 point;
* ``unbounded`` - an attack with an unbounded budget does not reach ~100% success;
* ``zero-gradients`` - input gradients are exactly zero (gradient masking).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import FixedEpsAttack
from advlab.attacks.losses import objective
from advlab.attacks.mode import eval_mode
from advlab.attacks.pgd import PGD
from advlab.attacks.sanity import SanityWarning, warn
from advlab.seeding import seeded_subset

SUBSET = 100
#: the largest accuracy drop (fraction) a stronger attack may cause without a warning
MAX_DROP = 0.01
#: success an unbounded attack must reach
MIN_UNBOUNDED_SUCCESS = 0.98
#: fraction of samples with an exactly-zero input gradient that triggers a warning
MAX_ZERO_GRAD = 0.05


def _subset(n: int, seed: int = 0) -> Tensor:
    """A fixed pseudo-random subset of at most SUBSET indices out of n, sorted: (<= SUBSET,)."""
    return seeded_subset(n, SUBSET, seed, sort=True)


def check_model(model: nn.Module, x: Tensor) -> list[str]:
    """Warn when the model is in train mode or its outputs depend on batch composition.

    Returns the anchors of the warnings issued.
    """
    issued = []
    if any(m.training for m in model.modules()):
        warn("model was in train mode; attacks and evaluation switch it to eval mode "
             "(and restore it); call model.eval() if you meant to evaluate it", "train-mode")
        issued.append("train-mode")
    xs = x[_subset(len(x))][:16]
    if len(xs) >= 2:
        with eval_mode(model), torch.no_grad():
            batched = model(xs)
            alone = torch.cat([model(xs[i:i + 1]) for i in range(min(4, len(xs)))])
        scale = batched.abs().max().clamp_min(1.0)
        if not torch.allclose(alone, batched[:len(alone)], atol=1e-4 * float(scale), rtol=1e-4):
            warn("logits of a sample differ alone vs inside a batch (batch statistics in "
                 "eval mode?); robust accuracy then depends on the batch size",
                 "batch-dependence")
            issued.append("batch-dependence")
    return issued


def stronger_of(attack: FixedEpsAttack) -> FixedEpsAttack:
    """The same class as ``attack`` (PGD or APGD, configured with ``steps``, ``restarts``,
    ``seed``) with twice the steps, one more restart and another seed."""
    cfg = attack.config
    return type(attack)(**{**cfg, "steps": 2 * cfg["steps"], "restarts": cfg["restarts"] + 1,
                           "seed": cfg["seed"] + 1})


def check_attack(model: nn.Module, x: Tensor, y: Tensor, *, attack: FixedEpsAttack,
                 fooled: dict[float, Tensor], found: dict[float, Tensor] | None = None
                 ) -> list[str]:
    """Re-run cheap variations of ``attack`` on a subset and warn about unreliable results.

    Args:
        attack: the evaluated attack, configured with ``steps``, ``restarts``, ``seed`` and
            ``loss`` (PGD or APGD); the stronger variant is :func:`stronger_of`.
        fooled: per eps, the success (N,) bool of the evaluated attack on x.
        found: optional per-eps (N,) bool tensors into which the stronger variant's
            successes on the subset are OR-ed in place (verified adversarial examples: a
            point it fools is not robust, whatever the evaluated attack found).
    Returns:
        the anchors of the warnings issued.
    """
    idx = _subset(len(x))
    xs, ys = x[idx], y[idx]
    issued = []
    stronger = stronger_of(attack)
    for eps, success in fooled.items():
        before = 1.0 - float(success[idx].float().mean())
        hit = stronger(model, xs, ys, eps=eps).success
        after = 1.0 - float(hit.float().mean())
        if found is not None:
            found[eps][idx] |= hit.to(found[eps].device)
        if before - after > MAX_DROP:
            warn(f"at eps={eps:g}, 2x steps and one more restart lower robust accuracy from "
                 f"{before:.3f} to {after:.3f} on {len(idx)} points: the attack has not "
                 "converged; increase steps/restarts", "more-steps")
            issued.append("more-steps")
    issued += _check_unbounded(model, xs, ys, attack)
    issued += _check_zero_gradients(model, xs, ys, attack.config["loss"])
    return issued


def _check_unbounded(model: nn.Module, xs: Tensor, ys: Tensor,
                     attack: FixedEpsAttack) -> list[str]:
    """An attack whose ball contains the whole box (or is huge, unbounded box) must succeed.

    Always PGD (step 2.5 eps / steps) with the evaluated attack's norm, loss and box."""
    cfg = attack.config
    box = attack.box
    if isinstance(box, tuple):
        width = box[1] - box[0]
        eps = width * (xs[0].numel() ** 0.5 if attack.norm == "l2" else 1.0)
    else:
        eps = 1e3 * max(1.0, float(xs.abs().max())) * (xs[0].numel() ** 0.5)
    big = PGD(norm=attack.norm, steps=max(cfg["steps"], 20), loss=cfg["loss"], box=attack.box,
              batch_size=cfg["batch_size"], seed=cfg["seed"])
    rate = big(model, xs, ys, eps=eps).success_rate
    if rate < MIN_UNBOUNDED_SUCCESS:
        warn(f"an attack with an unbounded budget (eps={eps:.3g}) fools only {rate:.1%} of "
             f"{len(xs)} points: gradients may be vanishing or masked, so robust accuracy "
             "is an upper bound at best; try a minimum-norm attack with an init",
             "unbounded")
        return ["unbounded"]
    return []


def _check_zero_gradients(model: nn.Module, xs: Tensor, ys: Tensor, loss: str) -> list[str]:
    """Fraction of points whose input gradient of the attack loss is exactly zero."""
    with eval_mode(model), torch.enable_grad():
        xg = xs.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(model(xg), ys, None, loss).sum(), xg)
    zero = float((grad.flatten(1).abs().amax(1) == 0).float().mean())
    if zero > MAX_ZERO_GRAD:
        warn(f"{zero:.0%} of {len(xs)} points have an exactly zero input gradient (gradient "
             "masking or saturation): gradient attacks cannot move them", "zero-gradients")
        return ["zero-gradients"]
    return []


__all__ = ["SanityWarning", "check_attack", "check_model", "stronger_of"]
