"""Transferability: adversarial examples made on a source model, tested on target models
(features paper, Figures 3 and 13)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from advlab.attacks.base import AttackResult, predict_logits
from advlab.attacks.losses import is_adversarial
from advlab.attacks.mode import eval_mode
from advlab.attacks.pgd import PGD
from advlab.attacks.threat import Box
from advlab.errors import bad_argument
from advlab.evaluate import split


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

    The points are attacked in fixed chunks, chunk i with seed
    :func:`advlab.evaluate.split.chunk_seed` (seed, i); under ``torchrun``, inside
    :func:`~advlab.evaluate.split.over_ranks`, the ranks share the chunks and sum the counts.
    """
    if not targets:
        raise bad_argument("targets", dict(targets), "at least one named target model")
    names = list(targets)
    # per source success, then per target: fooled, fooled & correct, correct, fooled & ok
    counts = torch.zeros(1 + 4 * len(names), dtype=torch.float64)
    bounds = split.chunks(len(x), 256)  # PGD's batch size
    for i in split.mine(len(bounds)):
        lo, hi = bounds[i]
        attack = PGD(norm=norm, steps=steps, step_size=step_size, loss=loss, box=box,
                     early_stop=False, seed=split.chunk_seed(seed, i))
        t = None if target is None else target[lo:hi]
        counts += _chunk_counts(attack(source, x[lo:hi], y[lo:hi], eps=eps, target=t),
                                [targets[n] for n in names], x[lo:hi], y[lo:hi], t)
    c = split.all_sum(counts).tolist()
    out: dict[str, Any] = {"source": c[0] / len(x), "targets": {}, "targets_correct": {},
                           "targets_given_source": {}}
    for k, name in enumerate(names):
        fooled, fooled_correct, correct, fooled_ok = c[1 + 4 * k:5 + 4 * k]
        out["targets"][name] = fooled / len(x)
        out["targets_correct"][name] = fooled_correct / correct if correct else float("nan")
        out["targets_given_source"][name] = fooled_ok / c[0] if c[0] else float("nan")
    return out


def _chunk_counts(res: AttackResult, models: list[nn.Module], x: Tensor, y: Tensor,
                  target: Tensor | None) -> Tensor:
    """Counts on one chunk (m points): [source successes, then per model: fooled,
    fooled & correct, correct, fooled & source fooled], float64."""
    ok = res.success
    row = [float(ok.sum())]
    for model in models:
        with eval_mode(model):
            fooled = is_adversarial(predict_logits(model, res.x_adv), y, target)
            correct = ~is_adversarial(predict_logits(model, x), y, target)
        row += [float(fooled.sum()), float((fooled & correct).sum()), float(correct.sum()),
                float((fooled & ok).sum())]
    return torch.tensor(row, dtype=torch.float64)
