"""Attack objectives on logits: cross-entropy and the Carlini-Wagner margin.

Every function here returns a per-sample value (N,) that the attack *maximises*.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from advlab.errors import bad_argument

LOSSES: tuple[str, ...] = ("ce", "cw")


def margin(logits: Tensor, y: Tensor) -> Tensor:
    """``max_{j != y} Z_j - Z_y`` for logits (N, K) and labels (N,) -> (N,).

    The true class is masked with ``-inf`` (not multiplied by zero), so the margin is
    correct when every logit is negative. Positive means misclassified.
    """
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    return other.amax(dim=1) - z_y


def objective(logits: Tensor, y: Tensor, target: Tensor | None, loss: str) -> Tensor:
    """Per-sample objective (N,) to maximise.

    Untargeted: ``CE(z, y)`` or ``margin(z, y)``. Targeted (towards ``target``):
    ``-CE(z, target)`` or ``-margin(z, target)`` (= ``Z_t - max_{j != t} Z_j``).
    """
    if loss == "ce":
        if target is None:
            return F.cross_entropy(logits, y, reduction="none")
        return -F.cross_entropy(logits, target, reduction="none")
    if loss == "cw":
        return margin(logits, y) if target is None else -margin(logits, target)
    raise bad_argument("loss", loss, "'ce' or 'cw'")


def is_adversarial(logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    """Success per sample (N,) bool: ``pred != y`` (untargeted) or ``pred == target``."""
    pred = logits.argmax(dim=1)
    return pred != y if target is None else pred == target


def check_loss(loss: object) -> str:
    """Return ``loss`` if it is a known objective name, else raise AdvlabError."""
    if loss not in LOSSES:
        raise bad_argument("loss", loss, "'ce' or 'cw'")
    return str(loss)


__all__ = ["margin", "objective", "is_adversarial", "check_loss", "LOSSES"]
