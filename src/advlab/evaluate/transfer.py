"""Transferability: adversarial examples made on a source model, tested on target models
(features paper, Figures 3 and 13)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from advlab.attacks.base import predict_logits
from advlab.attacks.losses import is_adversarial
from advlab.attacks.mode import eval_mode
from advlab.attacks.pgd import PGD
from advlab.attacks.threat import Box
from advlab.errors import bad_argument


def transfer_success(source: nn.Module, targets: Mapping[str, nn.Module], x: Tensor, y: Tensor,
                     *, norm: str, eps: float, steps: int, target: Tensor | None = None,
                     step_size: float | None = None, loss: str = "ce",
                     box: Box | str = (0.0, 1.0), seed: int = 0) -> dict[str, Any]:
    """Make PGD examples on ``source`` and measure how often they fool each target model.

    Every sample runs every step (no early stop: stronger examples transfer better).
    Untargeted: fooling = ``pred != y``; targeted: ``pred == target`` (N,).

    Returns:
        ``{"source": rate on the source, "targets": {name: rate over all N points},
        "targets_correct": {name: rate over the points the target classifies correctly},
        "targets_given_source": {name: rate over the points that fool the source}}``.
        The features paper's Figure 3 measures transfer on points the target gets right
        (a point the target already misclassifies is not fooled by the attack):
        ``targets_correct`` is that rate; ``targets`` counts every point.
    """
    if not targets:
        raise bad_argument("targets", dict(targets), "at least one named target model")
    attack = PGD(norm=norm, steps=steps, step_size=step_size, loss=loss, box=box,
                 early_stop=False, seed=seed)
    res = attack(source, x, y, eps=eps, target=target)
    ok = res.success
    out: dict[str, Any] = {"source": res.success_rate, "targets": {}, "targets_correct": {},
                           "targets_given_source": {}}
    for name, model in targets.items():
        with eval_mode(model):
            fooled = is_adversarial(predict_logits(model, res.x_adv), y, target)
            correct = ~is_adversarial(predict_logits(model, x), y, target)
        out["targets"][name] = float(fooled.float().mean())
        out["targets_correct"][name] = float(fooled[correct].float().mean()) if correct.any() \
            else float("nan")
        out["targets_given_source"][name] = float(fooled[ok].float().mean()) if ok.any() \
            else float("nan")
    return out
