"""LD-Grad (Richardson & Weiss, Appendix C.2): a fast closed-form attack on MFA classifiers.

For a point x of class y the attack picks the *source* component s (the most likely
component of class y at x, log pi included) and the *target* component t (the most likely
component of the other class at x), and steps along the gradient of their log-likelihood
difference ``gap(x) = log pi_s N_s(x) - log pi_t N_t(x)``, with the step size that
crosses the gap. For two Gaussians with low-rank + diagonal covariance the gap is a
quadratic whose value and gradient cost O(d l) per point (Woodbury).

Step rule: each step projects the clean point x0 onto the gap's linearisation at the
current iterate, ``x' = x0 - lambda g`` with ``gap(x) + g.(x' - x) = 0``, then overshoots
the perturbation by ``overshoot``. The first step is the plain gradient step from x0 that
crosses the linearised gap; the fixed point of the iteration satisfies the KKT condition
of ``min ||delta|| s.t. gap(x0 + delta) = 0`` (delta parallel to the gradient), so a few
steps (``steps=3``, the paper's "typically 3") approach the smallest crossing. Source and
target are re-chosen at every iterate. Success is decided by the full classifier (exact
or max-component, as configured), never by the pair; points not yet adversarial after
``steps`` continue up to ``max_steps``. Finally a bisection on the segment [x0, x_adv]
(``refine_steps``, full classifier) removes the overshoot.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import MinNormAttack
from advlab.attacks.threat import Bounds, Box, check_eps
from advlab.bayes.classifier import BayesOptimalClassifier
from advlab.errors import AdvlabError, bad_argument


class LDGrad(MinNormAttack):
    """Minimum-L2 attack on a :class:`BayesOptimalClassifier` (two classes).

    Args (keyword-only, stored in ``.config``):
        steps: gradient steps always taken (3, as in the paper).
        max_steps: cap for points that are not adversarial after ``steps`` (20).
        overshoot: relative overshoot of each step's perturbation (0.02).
        refine_steps: bisection steps on the segment from x0 to x_adv (15; 0 disables).
        box: None (unbounded, synthetic data; default), (lo, hi) or "per-sample"; with a
            box, iterates are clipped into it (the projection is then approximate).
        batch_size: points per batch (1024).

    Called as ``LDGrad()(clf, x, y)`` -> :class:`advlab.attacks.AttackResult` with
    ``x_adv`` (N, ...), ``success`` (N,) recomputed on x_adv, ``norms`` (N,) L2 (inf on
    failure). ``target`` may be given but must be ``1 - y`` (two classes).
    """

    def __init__(self, *, steps: int = 3, max_steps: int = 20, overshoot: float = 0.02,
                 refine_steps: int = 15, box: Box | str = None, batch_size: int = 1024) -> None:
        super().__init__(steps=steps, max_steps=max_steps, overshoot=overshoot,
                         refine_steps=refine_steps, box=box, batch_size=batch_size)
        for name, value, low in (("steps", steps, 1), ("max_steps", max_steps, steps),
                                 ("refine_steps", refine_steps, 0), ("batch_size", batch_size, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise bad_argument(name, value, f"an integer >= {low}")
        check_eps(overshoot, "overshoot")
        self._out_dtype = torch.float32

    def _run_min(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None,
                 bounds: Bounds, init: Tensor | None) -> Tensor:
        if not isinstance(model, BayesOptimalClassifier):
            raise bad_argument("model", type(model).__name__, "a BayesOptimalClassifier",
                               "LD-Grad needs closed-form component likelihoods; use CWL2 "
                               "for other models")
        out = x.clone()
        with torch.no_grad():
            for chunk in torch.arange(len(x)).split(self.config["batch_size"]):
                b = None if bounds is None else tuple(
                    (t[chunk] if t.dim() else t).reshape(len(chunk), -1).to(model.c0_means.dtype)
                    for t in bounds)
                x0 = model._flat(x[chunk])
                self._out_dtype = x.dtype
                adv = self._attack(model, x0, y[chunk].to(x0.device), b)  # type: ignore[arg-type]
                out[chunk] = adv.reshape(out[chunk].shape).to(x.dtype)
        return out

    def _state(self, model: BayesOptimalClassifier, x: Tensor, y: Tensor
               ) -> tuple[Tensor, Tensor, Tensor]:
        """Source / target components (N,) and full-classifier success (N,) at x (N, d)."""
        s0, s1 = model.component_scores(x, 0), model.component_scores(x, 1)
        src = torch.where(y == 0, s0.argmax(1), s1.argmax(1))
        tgt = torch.where(y == 0, s1.argmax(1), s0.argmax(1))
        return src, tgt, self._adversarial(model, x, y)

    def _attack(self, model: BayesOptimalClassifier, x0: Tensor, y: Tensor,
                bounds: Bounds) -> Tensor:
        """Attack one batch of flat float64 points x0 (n, d); returns adversarial points."""
        best, best_n = x0.clone(), torch.full((len(x0),), float("inf"), dtype=x0.dtype,
                                              device=x0.device)
        x = x0.clone()
        for it in range(self.config["max_steps"] + 1):
            src, tgt, success = self._state(model, x, y)
            n = (x - x0).norm(dim=1)
            better = success & (n < best_n)
            best[better], best_n[better] = x[better], n[better]
            if it == self.config["max_steps"] or (
                    it >= self.config["steps"] and bool(torch.isfinite(best_n).all())):
                break
            gap, g = model.pair_gap(x, y, src, tgt)
            lam = (gap + (g * (x0 - x)).sum(1)) / g.square().sum(1).clamp_min(1e-300)
            x = x0 - (1.0 + self.config["overshoot"]) * lam[:, None] * g
            if bounds is not None:
                x = torch.maximum(torch.minimum(x, bounds[1]), bounds[0])
        if not bool(torch.isfinite(x0).all()):
            raise AdvlabError("x: contains NaN or inf")
        return self._refine(model, x0, best, y, torch.isfinite(best_n))

    def _refine(self, model: BayesOptimalClassifier, x0: Tensor, x_adv: Tensor, y: Tensor,
                found: Tensor) -> Tensor:
        """Bisection on t in [0, 1] along x0 + t (x_adv - x0), keeping the adversarial end."""
        lo = torch.zeros(len(x0), dtype=x0.dtype, device=x0.device)
        hi = torch.ones_like(lo)
        direction = x_adv - x0
        for _ in range(self.config["refine_steps"]):
            mid = (lo + hi) / 2
            adv = self._adversarial(model, x0 + mid[:, None] * direction, y)
            hi = torch.where(adv & found, mid, hi)
            lo = torch.where(adv & found, lo, mid)
        return torch.where(found[:, None], x0 + hi[:, None] * direction, x0)

    def _adversarial(self, model: BayesOptimalClassifier, x: Tensor, y: Tensor) -> Tensor:
        """Full-classifier success (N,) judged exactly as the verification will: on x and
        logits in the caller's dtype (with D = 1e-6, float32 rounding of x alone moves a
        log-likelihood by ~0.01 nats, and float32 logits near 500 resolve 3e-5)."""
        return model(x.to(self._out_dtype)).argmax(1) != y


__all__ = ["LDGrad"]
