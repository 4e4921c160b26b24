"""FAB-T: the targeted Fast Adaptive Boundary attack (Croce & Hein 2020b) of AutoAttack.

FAB linearises the decision boundary between the true class ``y`` and a target ``t``
(``g = z_t - z_y``, its gradient ``w``) and projects onto that hyperplane, inside the box,
both the current iterate and the clean point; it steps to a convex combination of the two
projections (weight ``alpha = min(|d1| / (|d1| + |d2|), alpha_max)`` on the clean side,
overshooting by ``eta``), and after reaching the other side pulls the iterate back towards
the clean point by ``beta``. It is a minimum-norm attack; for a fixed eps a point is fooled
as soon as an adversarial iterate lies within eps, so that is where it stops (early stop:
the same verdict as running every step and comparing the smallest adversarial norm to eps).

The projection ``min ||d|| s.t. w.d = r, lo <= d <= hi`` is solved exactly: the optimum is
``d_i = w_i min(mu, c_i / |w_i|)`` (L2) or ``sign(w_i) min(mu, c_i)`` (Linf) with ``c_i`` the
room coordinate ``i`` has in the direction of ``sign(w_i) sign(r)``, and ``mu`` solves a
piecewise-linear increasing equation (sort the breakpoints, find the segment). When the
hyperplane cannot be reached inside the box, the point that gets closest is returned.

FAB-T attacks the top ``n_target_classes`` classes by clean logit in turn, on the points
still robust (AutoAttack: 9 targets, 100 iterations, one run from the clean point).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.apgd import _ranked_targets
from advlab.attacks.base import FixedEpsAttack
from advlab.attacks.keyed import keyed_noise, point_seeds
from advlab.attacks.threat import (
    Bounds,
    Box,
    _view,
    check_norm,
    clamp_box,
    norms,
    resolve_box,
    take_bounds,
)
from advlab.errors import bad_argument

#: stands for an unbounded coordinate (box None) in the projection
BIG = 1e12


def project_hyperplane(w: Tensor, r: Tensor, lo: Tensor, hi: Tensor, norm: str) -> Tensor:
    """Smallest ``d`` (m, D) in ``norm`` with ``w.d = r`` and ``lo <= d <= hi`` (lo <= 0 <= hi).

    Args:
        w: (m, D) normals; r: (m,) targets of ``w.d``; lo, hi: (m, D) bounds on ``d``.
    Returns:
        (m, D); where ``r`` is out of reach inside the bounds, the feasible ``d`` that makes
        ``w.d`` closest to ``r``.
    """
    flip = torch.where(r >= 0, 1.0, -1.0).to(w)
    ws, rs = w * flip[:, None], r * flip  # now rs >= 0: push w.d up
    room = torch.where(ws > 0, hi, -lo).clamp(min=0, max=BIG)  # how far d_i may go along sign(ws_i)
    mag = ws.abs()
    weight = ws * ws if norm == "l2" else mag  # slope of w.d in mu per coordinate
    brk = torch.where(weight > 0, room / mag.clamp_min(1e-30) if norm == "l2" else room,
                      torch.zeros_like(room)).clamp(max=BIG)
    weight = torch.where(brk > 0, weight, torch.zeros_like(weight))
    b_sorted, order = brk.sort(dim=1)
    w_sorted = weight.gather(1, order)
    before = torch.cumsum(w_sorted * b_sorted, dim=1) - w_sorted * b_sorted  # sum_{j<k} a_j b_j
    after = w_sorted.flip(1).cumsum(1).flip(1)  # sum_{j>=k} a_j
    reach = before + b_sorted * after  # w.d at mu = b_k (non-decreasing in k)
    ok = reach >= rs[:, None]
    k = ok.float().argmax(dim=1, keepdim=True)
    mu = (rs[:, None] - before.gather(1, k)) / after.gather(1, k).clamp_min(1e-30)
    mu = torch.where(ok.any(dim=1, keepdim=True), mu, torch.full_like(mu, float("inf")))
    t = torch.minimum(mu, brk)
    d = ws * t if norm == "l2" else ws.sign() * t
    return d


class FABT(FixedEpsAttack):
    """AutoAttack's FAB-T with per-sample early stop and verified results.

    Args (keyword-only, stored in ``.config``): norm ``"l2"`` | ``"linf"``; steps per target
    (AutoAttack: 100); n_target_classes (9); restarts per target (1; later ones start at a
    random point at half the best adversarial norm found, as FAB); alpha_max (0.1),
    eta (1.05), beta (0.9): FAB's step parameters; box; batch_size; seed.
    """

    def __init__(self, *, norm: str = "l2", steps: int = 100, n_target_classes: int = 9,
                 restarts: int = 1, alpha_max: float = 0.1, eta: float = 1.05,
                 beta: float = 0.9, box: Box | str = (0.0, 1.0), batch_size: int = 256,
                 seed: int = 0, early_stop: bool = True) -> None:
        if early_stop is not True:
            raise bad_argument("early_stop", early_stop, "True (a fixed-eps FAB stops a point "
                               "at its first adversarial iterate within eps)")
        super().__init__(norm=norm, steps=steps, n_target_classes=n_target_classes,
                         restarts=restarts, alpha_max=alpha_max, eta=eta, beta=beta, box=box,
                         batch_size=batch_size, seed=seed, early_stop=True)
        self.norm = check_norm(norm)
        for name, value, low in (("steps", steps, 0), ("n_target_classes", n_target_classes, 1),
                                 ("restarts", restarts, 1), ("batch_size", batch_size, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise bad_argument(name, value, f"an integer >= {low}")
        if not 0 <= float(alpha_max) <= 1 or float(eta) <= 0 or not 0 < float(beta) <= 1:
            raise bad_argument("alpha_max/eta/beta", (alpha_max, eta, beta),
                               "alpha_max in [0, 1], eta > 0, beta in (0, 1]")

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, eps: float,
             target: Tensor | None, clean_success: Tensor) -> Tensor:
        if target is not None:
            raise bad_argument("target", "a tensor", "None: FAB-T picks its own target classes")
        return self.search(model, x, y, eps, clean_success)[0]

    def search(self, model: nn.Module, x: Tensor, y: Tensor, eps: float, done: Tensor
               ) -> tuple[Tensor, Tensor, Tensor]:
        """FAB-T at ``eps`` on the points of ``x`` (N,C,H,W) not ``done`` (N,) bool (updated
        in place); unverified (the caller verifies).

        Returns (x_adv (N,C,H,W): the first iterate within eps where one was found, else x;
        smallest (N,): the smallest norm of an adversarial iterate over every target tried,
        inf if none; x_smallest (N,C,H,W): that iterate, else x). With one restart (runs
        start at the clean point: deterministic) a point not fooled within ``eps`` ran every
        target to the end, so it is fooled at a larger eps' by FAB-T exactly when
        ``smallest <= eps'`` (the run at eps' follows the same iterates and stops at the
        first adversarial one within eps'): :func:`advlab.evaluate.autoattack` reuses it.
        """
        seeds = point_seeds(x, y, int(self.config["seed"]))
        bounds = resolve_box(self.box, x)
        out, smallest = x.clone(), torch.full((len(x),), float("inf"), device=x.device)
        x_small = x.clone()
        if eps == 0:
            return out, smallest, x_small
        for rank, targets in self._targets(model, x, y):
            best_norm = torch.full((len(x),), float("inf"), device=x.device)
            for r in range(self.config["restarts"]):
                for chunk in self.batches(torch.nonzero(~done).flatten(), eps):
                    b = take_bounds(bounds, chunk)
                    start = x[chunk] if r == 0 else self._random_start(
                        x[chunk], best_norm[chunk], eps, b,
                        [seeds[i] for i in chunk.tolist()], rank, r)
                    xa, succ, nrm, xs = self._fab(model, x[chunk], start, y[chunk],
                                                  None if targets is None else targets[chunk],
                                                  eps, b)
                    out[chunk[succ]], done[chunk[succ]] = xa[succ], True
                    best_norm[chunk] = torch.minimum(best_norm[chunk], nrm)
                    smaller = nrm < smallest[chunk]
                    smallest[chunk[smaller]], x_small[chunk[smaller]] = nrm[smaller], xs[smaller]
        return out, smallest, x_small

    def _targets(self, model: nn.Module, x: Tensor, y: Tensor) -> list[tuple[int, Tensor | None]]:
        """(rank, target labels (N,)) for each run: the top ``n_target_classes`` classes by
        clean logit, ranks from 1."""
        ranked = _ranked_targets(model, x, y, self.config["n_target_classes"])
        return list(enumerate(ranked, start=1))

    def _random_start(self, x0: Tensor, best: Tensor, eps: float, bounds: Bounds,
                      seeds: list[int], rank: int, restart: int) -> Tensor:
        """FAB's restart: a random direction at half of min(best adversarial norm, eps),
        drawn from each point's own stream (:mod:`advlab.attacks.keyed`)."""
        shape = tuple(x0.shape[1:])
        if self.norm == "linf":
            t = 2 * keyed_noise(seeds, shape, "fab-start", rank, restart, kind="uniform") - 1
            scale = t.flatten(1).abs().amax(1)
        else:
            t = keyed_noise(seeds, shape, "fab-start", rank, restart)
            scale = t.flatten(1).norm(dim=1)
        radius = torch.minimum(best, torch.full_like(best, eps)).cpu()
        return clamp_box(x0 + (t * _view(radius / scale.clamp_min(1e-12) / 2, t)).to(x0), bounds)

    def _fab(self, model: nn.Module, x0: Tensor, start: Tensor, y: Tensor, t: Tensor | None,
             eps: float, bounds: Bounds) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One FAB run towards targets ``t`` (m,) on a batch (m,C,H,W); ``t`` None: at each
        step towards the class whose linearised boundary is closest (untargeted FAB).

        Returns (x (m,C,H,W): an adversarial iterate within eps where found, else x0;
        success (m,); the smallest adversarial norm seen (inf if none); that iterate (else
        x0)).
        """
        cfg = self.config
        m = len(x0)
        out, succ = x0.clone(), torch.zeros(m, dtype=torch.bool, device=x0.device)
        best, best_x = torch.full((m,), float("inf"), device=x0.device), x0.clone()
        lo, hi = _box_tensors(bounds, x0)
        idx = torch.arange(m, device=x0.device)
        x1 = start.clone()
        g, grad = self._linearise(model, x1, y, t)
        for it in range(cfg["steps"]):
            x1 = self._step(x0[idx], x1, g, grad, lo[idx], hi[idx], bounds, idx)
            with torch.no_grad():
                adv = model(x1).argmax(1) != y[idx]
            dist = norms(x1 - x0[idx], self.norm)
            better = adv & (dist < best[idx])
            best[idx[better]], best_x[idx[better]] = dist[better], x1[better]
            hit = adv & (dist <= eps)
            out[idx[hit]], succ[idx[hit]] = x1[hit], True
            far = adv & ~hit  # back towards the clean point
            x1[far] = x0[idx[far]] + (x1[far] - x0[idx[far]]) * float(cfg["beta"])
            keep = ~hit
            idx, x1 = idx[keep], x1[keep]
            if len(idx) == 0 or it == cfg["steps"] - 1:
                break
            g, grad = self._linearise(model, x1, y[idx], None if t is None else t[idx])
        return out, succ, best, best_x

    def _linearise(self, model: nn.Module, x: Tensor, y: Tensor, t: Tensor | None
                   ) -> tuple[Tensor, Tensor]:
        """The boundary FAB steps towards at ``x`` (m,C,H,W): (g (m,), its gradient)."""
        if t is not None:
            g, grad, _ = _margin_grad(model, x, y, t)
            return g, grad
        return _closest_boundary(model, x, y, self.norm)

    def _step(self, x0: Tensor, x1: Tensor, g: Tensor, grad: Tensor, lo: Tensor, hi: Tensor,
              bounds: Bounds, idx: Tensor) -> Tensor:
        """Project x1 and x0 onto the linearised boundary g(x1) + grad.(x - x1) = 0 (in the
        box) and move to their weighted combination, overshooting by eta."""
        cfg = self.config
        w = grad.flatten(1)
        d1 = project_hyperplane(w, -g, lo - x1.flatten(1), hi - x1.flatten(1), self.norm)
        r0 = -g - (w * (x0 - x1).flatten(1)).sum(1)
        d2 = project_hyperplane(w, r0, lo - x0.flatten(1), hi - x0.flatten(1), self.norm)
        a1 = norms(d1, self.norm).clamp_min(1e-8)
        a2 = norms(d2, self.norm).clamp_min(1e-8)
        alpha = (a1 / (a1 + a2)).clamp(0, float(cfg["alpha_max"]))[:, None]
        eta = float(cfg["eta"])
        new = (x1.flatten(1) + eta * d1) * (1 - alpha) + (x0.flatten(1) + eta * d2) * alpha
        return clamp_box(new.view_as(x1), take_bounds(bounds, idx))


def _closest_boundary(model: nn.Module, x: Tensor, y: Tensor, norm: str) -> tuple[Tensor, Tensor]:
    """Untargeted FAB's choice at ``x`` (m,C,H,W): over the classes ``j != y``, the
    linearised boundary ``g_j = z_j - z_y`` closest to ``x`` in ``norm``, i.e. the smallest
    ``|g_j| / ||grad g_j||_*`` (dual norm: L2 for L2, L1 for Linf). One forward and one
    backward per class (K of them, the graph kept between them). Returns (g (m,), its
    gradient (m,C,H,W))."""
    xg = x.detach().requires_grad_(True)
    rows = torch.arange(len(x), device=x.device)
    with torch.enable_grad():
        logits = model(xg)
        diff = logits - logits.gather(1, y[:, None])  # (m, K)
        k = logits.shape[1]
        best_ratio = torch.full((len(x),), float("inf"), device=x.device)
        best_g, best_grad = torch.zeros(len(x), device=x.device), torch.zeros_like(x)
        for j in range(k):
            (grad,) = torch.autograd.grad(diff[:, j].sum(), xg, retain_graph=j < k - 1)
            flat = grad.flatten(1)
            dual = flat.norm(dim=1) if norm == "l2" else flat.abs().sum(1)
            ratio = diff[:, j].detach().abs() / (dual + 1e-12)
            better = (ratio < best_ratio) & (y != j)
            best_ratio = torch.where(better, ratio, best_ratio)
            best_g = torch.where(better, diff[rows, j].detach(), best_g)
            best_grad = torch.where(_view(better, grad), grad, best_grad)
    return best_g, best_grad.detach()


class FAB(FABT):
    """Untargeted FAB (AutoAttack's ``fab`` in its ``plus`` version): at each step the
    boundary to the class closest in the linear approximation, from the clean point, then
    ``restarts - 1`` runs from random points (AutoAttack plus: 5 restarts).

    Args: as :class:`FABT` without ``n_target_classes`` (``early_stop`` must stay True).
    Each step costs one forward without gradients and one forward with one backward per
    class, so about K times FAB-T's cost per step on K classes.
    """

    def __init__(self, *, norm: str = "l2", steps: int = 100, restarts: int = 1,
                 alpha_max: float = 0.1, eta: float = 1.05, beta: float = 0.9,
                 box: Box | str = (0.0, 1.0), batch_size: int = 256, seed: int = 0,
                 early_stop: bool = True) -> None:
        super().__init__(norm=norm, steps=steps, n_target_classes=1, restarts=restarts,
                         alpha_max=alpha_max, eta=eta, beta=beta, box=box,
                         batch_size=batch_size, seed=seed, early_stop=early_stop)
        self.config = {k: v for k, v in self.config.items() if k != "n_target_classes"}

    def _targets(self, model: nn.Module, x: Tensor, y: Tensor) -> list[tuple[int, Tensor | None]]:
        return [(0, None)]


def _box_tensors(bounds: Bounds, x0: Tensor) -> tuple[Tensor, Tensor]:
    """Flattened (m, D) lower and upper bounds of the box (+-BIG when unbounded)."""
    flat = x0.flatten(1)
    if bounds is None:
        return torch.full_like(flat, -BIG), torch.full_like(flat, BIG)
    return bounds[0].expand_as(x0).flatten(1), bounds[1].expand_as(x0).flatten(1)


def _margin_grad(model: nn.Module, x: Tensor, y: Tensor, t: Tensor
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """``g = z_t - z_y`` (m,), its input gradient (m,C,H,W) and misclassification
    ``argmax z != y`` (m,), from one forward-backward at ``x``."""
    xg = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(xg)
        g = (logits.gather(1, t[:, None]) - logits.gather(1, y[:, None])).squeeze(1)
        (grad,) = torch.autograd.grad(g.sum(), xg)
    return g.detach(), grad.detach(), logits.detach().argmax(1) != y


__all__ = ["FAB", "FABT", "project_hyperplane"]
