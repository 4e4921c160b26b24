"""TRADES (Zhang et al. 2019): the KL inner maximisation and the training loss.

loss = CE(f(x), y) + beta * KL(softmax f(x) || softmax f(x_adv)), where x_adv
maximises that KL inside the eps-ball (PGD on the KL, started at x + 0.001 * N(0, I)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.threat import normalized_step, project_ball


def _project(x_adv: Tensor, x: Tensor, norm: str, eps: float,
             box: tuple[float, float] | None) -> Tensor:
    """Project onto the eps-ball around x (per sample), then the box (None: unbounded)."""
    out = x + project_ball(x_adv - x, norm, eps)
    return out if box is None else out.clamp(*box)


def trades_perturb(model: nn.Module, x: Tensor, *, norm: str, eps: float, steps: int,
                   step_size: float, box: tuple[float, float] | None = (0.0, 1.0)) -> Tensor:
    """Maximise KL(f(x) || f(x_adv)) over the ball; the model runs in eval mode.

    Args:
        model: logits model; its train/eval mode is restored afterwards and no
            parameter gradient is accumulated.
        x: clean batch (N, C, H, W) in [0, 1].
        norm: ``l2`` (normalised gradient steps) or ``linf`` (sign steps).
        box: bounds of valid inputs, ``(0, 1)`` for images; ``None`` for unbounded data.

    Returns:
        x_adv (N, C, H, W), detached, with ||x_adv - x|| <= eps and inside the box.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            p_nat = F.softmax(model(x), dim=1)
        x_adv = _project(x + 0.001 * torch.randn_like(x), x, norm, eps, box)
        for _ in range(steps):
            x_adv.requires_grad_(True)
            kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), p_nat, reduction="sum")
            (g,) = torch.autograd.grad(kl, x_adv)
            x_adv = _project(x_adv.detach() + step_size * normalized_step(g, norm), x, norm, eps, box)
    finally:
        model.train(was_training)
    return x_adv.detach()


def trades_loss(logits_nat: Tensor, logits_adv: Tensor, y: Tensor, beta: float) -> Tensor:
    """CE(nat, y) + beta * KL(softmax nat || softmax adv), KL averaged over the batch."""
    kl = F.kl_div(F.log_softmax(logits_adv, dim=1), F.softmax(logits_nat, dim=1),
                  reduction="batchmean")
    return F.cross_entropy(logits_nat, y) + beta * kl
