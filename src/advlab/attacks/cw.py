"""Carlini-Wagner L2 (Carlini & Wagner 2017) with a real binary search over the constant c.

Formulation: projected Adam on the perturbation ``delta`` itself, not the tanh change of
variables. Each Adam step is followed by a projection of ``x0 + delta`` into the box.
Why: with ``x = (tanh(w) + 1) / 2`` a pixel at exactly 0 or 1 needs ``w = -/+inf``;
implementations clamp to ``atanh(+-(1 - 1e-6))`` where ``d x / d w ~ 4e-6``, so the
background pixels of MNIST (exactly 0) are frozen. The projection moves an edge pixel
inward as soon as its gradient points inward, and the same code handles an unbounded box
(``box=None``: no projection, delta in R^d) and the per-sample box.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import MinNormAttack
from advlab.attacks.losses import is_adversarial, margin
from advlab.attacks.threat import Bounds, Box, check_eps, clamp_box, norms
from advlab.errors import bad_argument

_NO_UPPER = 1e10


class CWL2(MinNormAttack):
    """Carlini-Wagner L2 minimum-norm attack.

    Minimises ``||delta||_2^2 + c * max(kappa - m(x0 + delta), 0)`` with Adam, where
    ``m = max_{j != y} Z_j - Z_y`` (untargeted) or ``Z_t - max_{j != t} Z_j`` (targeted).
    Per sample, c is binary-searched: success -> upper = c, failure -> lower = c; then
    ``c = (lower + upper) / 2``, or ``c * 10`` while no upper bound is known. The smallest
    successful perturbation over all iterations of all search steps is kept.

    Args (keyword-only, stored in ``.config``): steps (500), search_steps (3), lr (0.01)
    (Bayes-optimal paper, Appendix C.1), initial_const (1e-2, the CleverHans default the
    paper used), kappa (confidence, 0), abort_early (stop a search step once no sample's
    loss has decreased by 0.01% over the last steps/10 iterations), box, batch_size.
    """

    def __init__(self, *, steps: int = 500, search_steps: int = 3, lr: float = 0.01,
                 initial_const: float = 1e-2, kappa: float = 0.0, abort_early: bool = True,
                 box: Box | str = (0.0, 1.0), batch_size: int = 256) -> None:
        super().__init__(steps=steps, search_steps=search_steps, lr=lr,
                         initial_const=initial_const, kappa=kappa, abort_early=abort_early,
                         box=box, batch_size=batch_size)
        for name, value, low in (("steps", steps, 1), ("search_steps", search_steps, 1),
                                 ("batch_size", batch_size, 1)):
            if not isinstance(value, int) or value < low:
                raise bad_argument(name, value, f"an integer >= {low}")
        for name, v in (("lr", lr), ("initial_const", initial_const), ("kappa", kappa)):
            check_eps(v, name)

    def _attack_batch(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None,
                      bounds: Bounds, init: Tensor | None) -> Tensor:
        return self._search(model, x, y, target, bounds)

    def _search(self, model: nn.Module, x0: Tensor, y: Tensor, target: Tensor | None,
                bounds: Bounds) -> Tensor:
        """Binary search over c for one batch; returns the best adversarial x (m,C,H,W)."""
        n = len(x0)
        dev = x0.device
        c = torch.full((n,), float(self.config["initial_const"]), device=dev)
        lower, upper = torch.zeros(n, device=dev), torch.full((n,), _NO_UPPER, device=dev)
        best_x, best_n = x0.clone(), torch.full((n,), float("inf"), device=dev)
        for _ in range(self.config["search_steps"]):
            found = self._optimise(model, x0, y, target, bounds, c, best_x, best_n)
            upper = torch.where(found, torch.minimum(upper, c), upper)
            lower = torch.where(found, lower, torch.maximum(lower, c))
            c = torch.where(upper < _NO_UPPER, (lower + upper) / 2, c * 10)
        return best_x

    def _optimise(self, model: nn.Module, x0: Tensor, y: Tensor, target: Tensor | None,
                  bounds: Bounds, c: Tensor, best_x: Tensor, best_n: Tensor) -> Tensor:
        """Adam for one c per sample; updates best_x / best_n in place; returns found (m,)."""
        kappa, steps = float(self.config["kappa"]), int(self.config["steps"])
        delta = torch.zeros_like(x0, requires_grad=True)
        opt = torch.optim.Adam([delta], lr=float(self.config["lr"]))
        found = torch.zeros(len(x0), dtype=torch.bool, device=x0.device)
        prev = torch.full((len(x0),), float("inf"), device=x0.device)
        check_every = max(1, steps // 10)
        for it in range(steps + 1):
            with torch.enable_grad():
                x_adv = x0 + delta
                logits = model(x_adv)
                m = margin(logits, y) if target is None else -margin(logits, target)
                l2sq = delta.flatten(1).pow(2).sum(1)
                per_sample = l2sq + c * torch.clamp(kappa - m, min=0)
                loss = per_sample.sum()
                grad_needed = it < steps
                (grad,) = torch.autograd.grad(loss, delta) if grad_needed else (None,)
            with torch.no_grad():
                ok = is_adversarial(logits, y, target) & (m >= kappa)
                d = norms(x_adv - x0, "l2")
                better = ok & (d < best_n)
                best_x[better], best_n[better] = x_adv[better].detach(), d[better]
                found |= ok
            if not grad_needed:
                break
            if self.config["abort_early"] and it % check_every == 0 and it > 0:
                # Stop only when every sample has stalled: a batch-summed test would stop
                # samples that are still approaching the boundary (Adam steps are per-element,
                # so samples do not interact otherwise).
                current = per_sample.detach()
                if bool((current > prev * 0.9999).all()):
                    break
                prev = current
            delta.grad = grad
            opt.step()
            with torch.no_grad():
                delta.copy_(clamp_box(x0 + delta, bounds) - x0)
        return found
