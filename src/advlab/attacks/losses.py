"""Attack objectives on logits: cross-entropy, the Carlini-Wagner margin and the
Difference of Logits Ratio (DLR, Croce & Hein 2020).

Every function here returns a per-sample value (N,) that the attack *maximises*.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from advlab.errors import bad_argument

LOSSES: tuple[str, ...] = ("ce", "cw", "dlr")
#: added to the DLR denominator (as in AutoAttack) so that equal logits do not divide by 0
DLR_EPS = 1e-12


def margin(logits: Tensor, y: Tensor) -> Tensor:
    """``max_{j != y} Z_j - Z_y`` for logits (N, K) and labels (N,) -> (N,).

    The true class is masked with ``-inf`` (not multiplied by zero), so the margin is
    correct when every logit is negative. Positive means misclassified.
    """
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    return other.amax(dim=1) - z_y


def dlr(logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
    """Difference of Logits Ratio (Croce & Hein 2020, eqs. 5 and 6) for logits (N, K) -> (N,).

    With ``z`` sorted decreasingly as ``z_p1 >= z_p2 >= ...``:

    * untargeted: ``-(z_y - max_{j != y} z_j) / (z_p1 - z_p3)`` (needs K >= 3);
    * targeted towards ``t``: ``-(z_y - z_t) / (z_p1 - (z_p3 + z_p4) / 2)`` (needs K >= 4).

    Invariant to shifting and (positively) rescaling the logits, so a saturated softmax
    does not flatten it as it flattens cross-entropy.
    """
    k = logits.shape[1]
    need = 3 if target is None else 4
    if k < need:
        kind = "untargeted" if target is None else "targeted"
        raise bad_argument("loss", "dlr", f"a model with at least {need} classes for the "
                           f"{kind} DLR loss (this one has {k}); use 'ce' or 'cw'")
    top = logits.topk(need, dim=1).values
    if target is None:
        return margin(logits, y) / (top[:, 0] - top[:, 2] + DLR_EPS)
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    z_t = logits.gather(1, target[:, None]).squeeze(1)
    return (z_t - z_y) / (top[:, 0] - (top[:, 2] + top[:, 3]) / 2 + DLR_EPS)


def objective(logits: Tensor, y: Tensor, target: Tensor | None, loss: str) -> Tensor:
    """Per-sample objective (N,) to maximise.

    Untargeted: ``CE(z, y)``, ``margin(z, y)`` or ``dlr(z, y)``. Targeted (towards
    ``target``): ``-CE(z, target)``, ``-margin(z, target)`` (= ``Z_t - max_{j != t} Z_j``) or
    the targeted ``dlr(z, y, target)``.
    """
    if loss == "ce":
        if target is None:
            return F.cross_entropy(logits, y, reduction="none")
        return -F.cross_entropy(logits, target, reduction="none")
    if loss == "cw":
        return margin(logits, y) if target is None else -margin(logits, target)
    if loss == "dlr":
        return dlr(logits, y, target)
    raise bad_argument("loss", loss, "'ce', 'cw' or 'dlr'")


def is_adversarial(logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    """Success per sample (N,) bool: ``pred != y`` (untargeted) or ``pred == target``."""
    pred = logits.argmax(dim=1)
    return pred != y if target is None else pred == target


def check_loss(loss: object) -> str:
    """Return ``loss`` if it is a known objective name, else raise AdvlabError."""
    if loss not in LOSSES:
        raise bad_argument("loss", loss, "'ce', 'cw' or 'dlr'")
    return str(loss)


__all__ = ["margin", "dlr", "objective", "is_adversarial", "check_loss", "LOSSES"]
