"""Fast Minimum-Norm L2 attack (Pintor, Roli, Brendel & Biggio, NeurIPS 2021).

FMN moves along the normalised gradient of the logit difference while projecting onto an
L2 ball whose radius adapts: it shrinks while the iterate is adversarial and grows (or
jumps to the linearised boundary distance, before anything adversarial was found) while
it is not. Step size and radius-adaptation rate follow cosine schedules. One deviation
from the paper: the boundary jump is overshot by ``(1 + gamma)``; without it, a linear
model's iterate lands exactly on the boundary (margin 0, not adversarial) and stays there. It accepts a
starting point: where ``init`` is adversarial, a binary search on the segment
``[x0, init]`` first finds the boundary, and FMN refines from there - which is how RBF
SVMs, whose gradients vanish far from the support vectors, are attacked.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from advlab.attacks.base import MinNormAttack
from advlab.attacks.losses import is_adversarial, margin
from advlab.attacks.threat import (
    Bounds,
    Box,
    check_eps,
    clamp_box,
    normalized_step,
    norms,
    project_ball,
)
from advlab.errors import bad_argument


def _feasible(grad: Tensor, xa: Tensor, bounds: Bounds) -> Tensor:
    """Zero the components of ``grad`` (m,C,H,W) whose descent step ``-grad`` would leave the
    box at pixels already on its faces (MNIST background pixels sit at exactly 0).

    Without it, the normalised step spends most of its length on pixels that the box clips
    away, and before the first adversarial point the linearised distance
    ``|diff| / ||grad||`` under-estimates the distance along the feasible directions: the
    radius then stays at ``||delta|| + |diff| / ||grad||``, with ``||delta||`` shrunk by the
    clip, and the iterate stalls short of the boundary (measured on the mnist5k CNN: 3% of
    points never became adversarial although PGD fools them at eps 0.5).
    """
    if bounds is None:
        return grad
    blocked = ((xa <= bounds[0]) & (grad > 0)) | ((xa >= bounds[1]) & (grad < 0))
    return grad.masked_fill(blocked, 0.0)


def _cosine(start: float, end: float, k: int, steps: int) -> float:
    return end + (start - end) * (1 + math.cos(math.pi * k / steps)) / 2


class FMN(MinNormAttack):
    """Fast Minimum-Norm L2 attack; norms are inf where it fails.

    Args (keyword-only, in ``.config``): steps (100), max_stepsize (1.0), min_stepsize
    (None: max_stepsize / 100), gamma (0.05, initial radius-adaptation rate, annealed to
    gamma_final 0.001), init_search_steps (10, bisection steps towards ``init``), box,
    batch_size.
    """

    def __init__(self, *, steps: int = 100, max_stepsize: float = 1.0,
                 min_stepsize: float | None = None, gamma: float = 0.05,
                 gamma_final: float = 0.001, init_search_steps: int = 10,
                 box: Box | str = (0.0, 1.0), batch_size: int = 256) -> None:
        super().__init__(steps=steps, max_stepsize=max_stepsize, min_stepsize=min_stepsize,
                         gamma=gamma, gamma_final=gamma_final,
                         init_search_steps=init_search_steps, box=box, batch_size=batch_size)
        for name, value, low in (("steps", steps, 1), ("init_search_steps", init_search_steps, 0),
                                 ("batch_size", batch_size, 1)):
            if not isinstance(value, int) or value < low:
                raise bad_argument(name, value, f"an integer >= {low}")
        for name, v in (("max_stepsize", max_stepsize), ("gamma", gamma),
                        ("gamma_final", gamma_final)):
            check_eps(v, name)
        self.min_stepsize = max_stepsize / 100 if min_stepsize is None else \
            check_eps(min_stepsize, "min_stepsize")

    def _attack_batch(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None,
                      bounds: Bounds, init: Tensor | None) -> Tensor:
        return self._attack(model, x, y, target, bounds, init)

    def _boundary_start(self, model: nn.Module, x0: Tensor, y: Tensor, target: Tensor | None,
                        bounds: Bounds, init: Tensor) -> Tensor:
        """Bisection on ``x0 + a (init - x0)``, a in [0, 1]; returns the starting delta (m,...)."""
        init = clamp_box(init.detach(), bounds)
        with torch.no_grad():
            usable = is_adversarial(model(init), y, target)
        lo, hi = torch.zeros(len(x0), device=x0.device), torch.ones(len(x0), device=x0.device)
        shape = (-1, *[1] * (x0.dim() - 1))
        for _ in range(self.config["init_search_steps"]):
            mid = (lo + hi) / 2
            with torch.no_grad():
                adv = is_adversarial(model(x0 + mid.view(shape) * (init - x0)), y, target)
            hi, lo = torch.where(adv, mid, hi), torch.where(adv, lo, mid)
        hi = torch.where(usable, hi, torch.zeros_like(hi))
        return hi.view(shape) * (init - x0)

    def _attack(self, model: nn.Module, x0: Tensor, y: Tensor, target: Tensor | None,
                bounds: Bounds, init: Tensor | None) -> Tensor:
        """FMN on one batch; returns the smallest adversarial x found (x0 where none)."""
        cfg, steps = self.config, int(self.config["steps"])
        n = len(x0)
        delta = torch.zeros_like(x0) if init is None else \
            self._boundary_start(model, x0, y, target, bounds, init)
        worst = float("inf") if bounds is None else \
            norms(torch.maximum(x0 - bounds[0], bounds[1] - x0), "l2")
        eps = torch.full((n,), float("inf"), device=x0.device)
        best_n, best_delta = eps.clone(), delta.clone()
        found = torch.zeros(n, dtype=torch.bool, device=x0.device)
        for k in range(steps + 1):
            xa = (x0 + delta).requires_grad_(k < steps)
            with torch.enable_grad():
                logits = model(xa)
                # logit difference to minimise; negative <=> adversarial
                diff = -margin(logits, y) if target is None else margin(logits, target)
                grad = torch.autograd.grad(diff.sum(), xa)[0] if k < steps else None
            with torch.no_grad():
                adv = is_adversarial(logits, y, target)
                d = norms(delta, "l2")
                better = adv & (d < best_n)
                best_n, best_delta[better] = torch.where(better, d, best_n), delta[better]
                found |= adv
            if grad is None:
                break
            grad = _feasible(grad, x0 + delta, bounds)
            gamma = _cosine(cfg["gamma"], cfg["gamma_final"], k, steps)
            alpha = _cosine(cfg["max_stepsize"], self.min_stepsize, k, steps)
            to_boundary = diff.detach().abs() / norms(grad, "l2").clamp_min(1e-12)
            eps = torch.where(adv, torch.minimum(eps * (1 - gamma), best_n),
                              torch.where(found, eps * (1 + gamma),
                                                      (d + to_boundary) * (1 + gamma)))
            eps = torch.minimum(eps, torch.as_tensor(worst, device=x0.device))
            delta = delta - alpha * normalized_step(grad, "l2")
            delta = project_ball(delta, "l2", eps)
            delta = clamp_box(x0 + delta, bounds) - x0
        return x0 + best_delta
