"""Projected gradient descent (Madry et al. 2018): the raw loop and the ``PGD`` attack.

``pgd_perturb`` is the fast inner loop used by adversarial training and dataset
construction: no validation beyond the arguments, no verification, every sample attacked
for every step. The ``PGD`` attack object (restarts, early stop, a list of eps, verified
results) is built on top of it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import FixedEpsAttack
from advlab.attacks.losses import check_loss, is_adversarial, objective
from advlab.attacks.mode import eval_mode
from advlab.attacks.threat import (
    Bounds,
    Box,
    check_box,
    check_eps,
    check_norm,
    clamp_box,
    normalized_step,
    project_ball,
    random_in_ball,
    resolve_box,
    take_bounds,
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


class PGD(FixedEpsAttack):
    """PGD with restarts, per-sample early stop and verified results.

    Args (keyword-only, stored unchanged in ``.config``):
        norm: ``"l2"`` or ``"linf"``.
        steps: gradient steps per restart.
        step_size: step size; None means ``rel_step * eps / steps`` (Madry et al.).
        rel_step: see step_size (2.5 by default).
        restarts: number of runs; each later run attacks only the points still robust and
            keeps, per sample, a successful iterate or else the highest-loss one.
        random_start: start uniformly in the ball (L2: gaussian direction, radius
            ``eps * U^(1/d)``).
        loss: ``"ce"`` or ``"cw"``.
        early_stop: when only success matters (robust accuracy), a sample leaves the active
            batch at the first adversarial iterate (which is returned); with False every
            sample runs every step and the last iterate is returned (as torchattacks).
        box: ``(lo, hi)``, ``None`` or ``"per-sample"``.
        batch_size: points attacked at once. seed: random-start seed.
    """

    def __init__(self, *, norm: str = "l2", steps: int = 20, step_size: float | None = None,
                 rel_step: float = 2.5, restarts: int = 1, random_start: bool = True,
                 loss: str = "ce", early_stop: bool = True, box: Box | str = (0.0, 1.0),
                 batch_size: int = 256, seed: int = 0) -> None:
        super().__init__(norm=norm, steps=steps, step_size=step_size, rel_step=rel_step,
                         restarts=restarts, random_start=random_start, loss=loss,
                         early_stop=early_stop, box=box, batch_size=batch_size, seed=seed)
        self.norm = check_norm(norm)
        self.loss = check_loss(loss)
        for name, value, low in (("steps", steps, 0), ("restarts", restarts, 1),
                                 ("batch_size", batch_size, 1)):
            if not isinstance(value, int) or value < low:
                raise bad_argument(name, value, f"an integer >= {low}")
        if step_size is not None:
            check_eps(step_size, "step_size")

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, eps: float,
             target: Tensor | None, clean_success: Tensor) -> Tensor:
        cfg = self.config
        steps: int = cfg["steps"]
        step = cfg["step_size"] if cfg["step_size"] is not None else \
            cfg["rel_step"] * eps / max(steps, 1)
        gen = torch.Generator().manual_seed(int(cfg["seed"]))
        bounds = resolve_box(self.box, x)
        best_x = x.clone()
        best_loss = torch.full((len(x),), float("-inf"), device=x.device)
        done = clean_success.clone() if cfg["early_stop"] else torch.zeros_like(clean_success)
        for _ in range(cfg["restarts"]):
            todo = torch.nonzero(~done).flatten()
            for chunk in self.batches(todo, eps):
                t = None if target is None else target[chunk]
                b = take_bounds(bounds, chunk)
                xa, succ, val = self._one_run(model, x[chunk], y[chunk], t, eps, step, b, gen,
                                              final_check=cfg["restarts"] > 1)
                better = succ | (val > best_loss[chunk])
                best_x[chunk[better]] = xa[better]
                best_loss[chunk[better]] = val[better]
                done[chunk[succ]] = True
        return best_x

    def _one_run(self, model: nn.Module, x0: Tensor, y: Tensor, target: Tensor | None,
                 eps: float, step: float, bounds: Bounds, gen: torch.Generator,
                 final_check: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """One PGD run on a batch; returns (x_adv (m,C,H,W), success (m,), objective (m,)).

        With ``final_check=False`` (a single run: nothing to compare against, and the base
        verifies every returned tensor anyway) the last iterates of the samples still active
        are returned without another forward pass, with success False and objective +inf.
        """
        norm, early = self.norm, self.config["early_stop"]
        x_adv = x0.clone()
        if self.config["random_start"] and eps > 0:
            x_adv = clamp_box(x0 + random_in_ball(x0, norm, eps, gen), bounds)
        out_x = x_adv.clone()
        out_succ = torch.zeros(len(x0), dtype=torch.bool, device=x0.device)
        out_val = torch.full((len(x0),), float("-inf"), device=x0.device)
        idx = torch.arange(len(x0), device=x0.device)  # positions of the still-active samples in the batch
        for _ in range(self.config["steps"]):
            val, grad, succ = _step_info(model, x_adv, y[idx], _sub(target, idx), self.loss)
            if early and succ.any():  # record the first adversarial iterate, drop the sample
                hit = idx[succ]
                out_x[hit], out_succ[hit], out_val[hit] = x_adv[succ], True, val[succ]
                idx, x_adv, grad = idx[~succ], x_adv[~succ], grad[~succ]
                if len(idx) == 0:
                    return out_x, out_succ, out_val
            x0i, bi = x0[idx], take_bounds(bounds, idx)
            x_adv = x_adv + step * normalized_step(grad, norm)
            x_adv = clamp_box(x0i + project_ball(x_adv - x0i, norm, eps), bi)
        out_x[idx] = x_adv
        if not final_check:
            out_val[idx] = float("inf")
            return out_x, out_succ, out_val
        with torch.no_grad():
            logits = model(x_adv)
        out_succ[idx] = is_adversarial(logits, y[idx], _sub(target, idx))
        out_val[idx] = objective(logits, y[idx], _sub(target, idx), self.loss)
        return out_x, out_succ, out_val


def _step_info(model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None,
               loss: str) -> tuple[Tensor, Tensor, Tensor]:
    """One forward-backward: (objective (m,), input gradient (m,C,H,W), success (m,))."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        value = objective(logits, y, target, loss)
        (grad,) = torch.autograd.grad(value.sum(), x)
    return value.detach(), grad.detach(), is_adversarial(logits.detach(), y, target)


def _sub(t: Tensor | None, idx: Tensor) -> Tensor | None:
    return None if t is None else t[idx]
