"""Projected gradient descent (Madry et al. 2018): the raw loop and the ``PGD`` attack.

``pgd_perturb`` is the fast inner loop used by adversarial training and dataset
construction: no validation beyond the arguments, no verification, every sample attacked
for every step. The ``PGD`` attack object (restarts, early stop, a list of eps, verified
results) is built on top of it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.losses import check_loss, objective
from advlab.attacks.mode import eval_mode
from advlab.attacks.threat import (
    Box,
    check_box,
    check_eps,
    check_norm,
    clamp_box,
    normalized_step,
    project_ball,
    random_in_ball,
    resolve_box,
)
from advlab.errors import bad_argument


def input_gradient(model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None,
                   loss: str) -> tuple[Tensor, Tensor]:
    """Gradient of the per-sample objective w.r.t. the input only (parameters untouched).

    Args:
        x: images (N, C, H, W); y: labels (N,); target: (N,) or None.
    Returns:
        (objective (N,), gradient (N, C, H, W)), both detached.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        value = objective(model(x), y, target, loss)
        (grad,) = torch.autograd.grad(value.sum(), x)
    return value.detach(), grad.detach()


def pgd_perturb(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    norm: str,
    eps: float,
    steps: int,
    step_size: float,
    random_start: bool = True,
    target: Tensor | None = None,
    loss: str = "ce",
    box: Box | str = (0.0, 1.0),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Run PGD from ``x`` and return the last iterate ``x_adv`` (N, C, H, W).

    Untargeted (``target=None``): ascend the loss of the true label ``y``. Targeted:
    descend the loss towards ``target`` (N,). L2 steps are normalised gradients
    ``step_size * g/||g||_2`` (features paper, Appendix C.3); Linf steps are
    ``step_size * sign(g)``. After each step the perturbation is projected onto the eps
    ball, then the image into the box (``(lo, hi)``, ``None`` or ``"per-sample"``).

    The model is put in eval mode during the attack and its mode restored; gradients are
    taken w.r.t. the input only (``torch.autograd.grad``), so no parameter ``.grad`` is
    touched.

    Args:
        model: maps images (N, C, H, W) to logits (N, K).
        x: clean images (N, C, H, W); y: labels (N,) int64.
        norm: ``"l2"`` or ``"linf"``; eps: radius >= 0; steps: number of steps >= 0.
        step_size: size of each step (pixel units).
        random_start: start uniformly inside the ball (then clipped to the box).
        loss: ``"ce"`` (cross-entropy) or ``"cw"`` (logit margin).
        generator: optional CPU generator for the random start.
    """
    norm = check_norm(norm)
    eps = check_eps(eps)
    loss = check_loss(loss)
    if steps < 0:
        raise bad_argument("steps", steps, "an integer >= 0")
    bounds = resolve_box(check_box(box), x)
    x0 = x.detach()
    x_adv = x0.clone()
    if random_start and eps > 0:
        x_adv = clamp_box(x0 + random_in_ball(x0, norm, eps, generator), bounds)
    with eval_mode(model):
        for _ in range(steps):
            _, grad = input_gradient(model, x_adv, y, target, loss)
            x_adv = x_adv + step_size * normalized_step(grad, norm)
            x_adv = clamp_box(x0 + project_ball(x_adv - x0, norm, eps), bounds)
    return x_adv.detach()
