"""LD-Grad (Richardson & Weiss, Appendix C.2): a fast closed-form attack on MFA classifiers.

The paper steps along the gradient of the log-likelihood difference between a *source*
component (of the true class) and a *target* component (of the other class), with the step
size that crosses the gap; "typically 3" steps. For two Gaussians with low-rank + diagonal
covariance the gap is a quadratic whose value and gradient cost O(d l) (Woodbury).

Crossing one source-target gap is not enough when the source class has several
components: past the crossing, *another* source component can become the most likely one,
and an iteration that re-chooses the source oscillates between the two (we measured this
on 0.6% of symmetric and 1.6% of asymmetric mnist 0/6 points). So each step here keeps
*every* source component in play: for a target component t, it projects the clean point
x0 onto the set where t beats all source components k,

    s_k(x) - s_t(x) + margin <= 0   for every k,  s = log pi + log N,

each constraint linearised at the current iterate (a small non-negative QP with one
multiplier per source component, solved exactly by coordinate descent). With a single
source component this is the paper's step (x0 minus the gradient times the step that
crosses the linearised gap); its fixed point is the KKT point of the minimum-norm
crossing into t's region. ``margin`` is log K_source for the exact classifier (then
t beating every source component by it flips the log-sum-exp), 0 for max-component.

Targets: the most likely component of the other class at x0 by default (``targets=1``),
or the ``targets`` most likely ones (None: all); the smallest success over them is kept. Success is
decided by the full classifier (exact or max-component, as configured), never by the
pair; points not adversarial after ``steps`` continue up to ``max_steps``. Finally a
bisection on the segment [x0, x_adv] (``refine_steps``, full classifier) removes the
overshoot and the margin.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from advlab.attacks.base import MinNormAttack
from advlab.attacks.threat import Bounds, Box, check_eps
from advlab.bayes import lowrank
from advlab.bayes.classifier import BayesOptimalClassifier
from advlab.errors import AdvlabError, bad_argument

_ELEMENTS = 2**22  # float64 elements per (rows, source components, d) block (32 MiB)


class LDGrad(MinNormAttack):
    """Minimum-L2 attack on a :class:`BayesOptimalClassifier` (two classes).

    Args (keyword-only, stored in ``.config``):
        steps: projection steps always taken (3, as in the paper).
        max_steps: cap for points that are not adversarial after ``steps`` (20).
        overshoot: relative overshoot of each step's perturbation (0.02).
        refine_steps: bisection steps on the segment from x0 to x_adv (15; 0 disables).
        targets: how many of the other class's most likely components at x0 to try as
            the target (1, the paper's single target; None = all, the smallest kept;
            on mnist 0/6 all targets gave 0.1% smaller norms at 2-4x the time).
        qp_sweeps: coordinate-descent sweeps of the per-step QP (30).
        polish_steps: projections onto the full classifier's own boundary, linearised at
            the adversarial point found (3; 0 disables).
        box: None (unbounded, synthetic data; default), (lo, hi) or "per-sample"; with a
            box, iterates are clipped into it (the projection is then approximate).
        batch_size: points per batch (1024; blocks are further split to bound memory).

    Called as ``LDGrad()(clf, x, y)`` -> :class:`advlab.attacks.AttackResult` with
    ``x_adv`` (N, ...), ``success`` (N,) recomputed on x_adv, ``norms`` (N,) L2 (inf on
    failure). ``target`` may be given but must be ``1 - y`` (two classes).
    """

    def __init__(self, *, steps: int = 3, max_steps: int = 20, overshoot: float = 0.02,
                 refine_steps: int = 15, targets: int | None = 1, qp_sweeps: int = 30,
                 polish_steps: int = 3,
                 box: Box | str = None, batch_size: int = 1024) -> None:
        super().__init__(steps=steps, max_steps=max_steps, overshoot=overshoot,
                         refine_steps=refine_steps, targets=targets, qp_sweeps=qp_sweeps,
                         polish_steps=polish_steps,
                         box=box, batch_size=batch_size)
        for name, value, low in (("steps", steps, 1), ("max_steps", max_steps, steps),
                                 ("refine_steps", refine_steps, 0), ("qp_sweeps", qp_sweeps, 1),
                                 ("polish_steps", polish_steps, 0),
                                 ("batch_size", batch_size, 1),
                                 ("targets", 1 if targets is None else targets, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise bad_argument(name, value, f"an integer >= {low}"
                                   + (" or None (all)" if name == "targets" else ""))
        check_eps(overshoot, "overshoot")
        self._out_dtype = torch.float32

    def _run_min(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None,
                 bounds: Bounds, init: Tensor | None) -> Tensor:
        if not isinstance(model, BayesOptimalClassifier):
            raise bad_argument("model", type(model).__name__, "a BayesOptimalClassifier",
                               "LD-Grad needs closed-form component likelihoods; use CWL2 "
                               "for other models")
        out = x.clone()
        self._out_dtype = x.dtype
        with torch.no_grad():
            for chunk in torch.arange(len(x)).split(self.config["batch_size"]):
                b = None if bounds is None else (_flat_rows(bounds[0], chunk, model.dtype),
                                                 _flat_rows(bounds[1], chunk, model.dtype))
                x0 = model._flat(x[chunk])
                adv = self._attack(model, x0, y[chunk].to(x0.device), b)
                out[chunk] = adv.reshape(out[chunk].shape).to(x.dtype)
        return out

    def _attack(self, model: BayesOptimalClassifier, x0: Tensor, y: Tensor,
                bounds: Bounds) -> Tensor:
        """Attack one batch of flat float64 points x0 (n, d); returns adversarial points."""
        if not bool(torch.isfinite(x0).all()):
            raise AdvlabError("x: contains NaN or inf")
        best = x0.clone()
        found = torch.zeros(len(x0), dtype=torch.bool, device=x0.device)
        for c in (0, 1):
            idx = (y == c).nonzero().squeeze(1)
            if idx.numel() == 0:
                continue
            src, tgt = model.mixture(c), model.mixture(1 - c)
            per_block = _ELEMENTS // (src.n_components * src.dim * self._n_targets(tgt))
            for part in idx.split(max(1, per_block)):
                b = None if bounds is None else (_rows(bounds[0], part, len(x0)),
                                                 _rows(bounds[1], part, len(x0)))
                best[part], found[part] = self._attack_class(model, x0[part], c, src, tgt, b)
        return self._refine(model, x0, best, y, found)

    def _n_targets(self, tgt: lowrank.LowRankMixture) -> int:
        t = self.config["targets"]
        return tgt.n_components if t is None else min(int(t), tgt.n_components)

    def _attack_class(self, model: BayesOptimalClassifier, x0: Tensor, c: int,
                      src: lowrank.LowRankMixture, tgt: lowrank.LowRankMixture,
                      bounds: Bounds) -> tuple[Tensor, Tensor]:
        """Points x0 (n, d) of class c against target components of class 1 - c.

        Rows are (point, target) pairs laid out point-major, (n * T, d); the smallest
        verified adversarial iterate over targets and steps is kept per point.
        Returns best (n, d) and found (n,).
        """
        n, t_n = len(x0), self._n_targets(tgt)
        ranked = (lowrank.component_logpdf(x0, tgt) + tgt.log_weights).argsort(1, descending=True)
        comp = ranked[:, :t_n].reshape(-1)                                  # (n*T,)
        rows0 = x0.repeat_interleave(t_n, 0)                                # (n*T, d)
        label = torch.full((n * t_n,), c, dtype=torch.long, device=x0.device)
        margin = math.log(src.n_components) if model.mode == "exact" else 0.0
        b = None if bounds is None else tuple(
            v.repeat_interleave(t_n, 0) if v.dim() and v.shape[0] == n else v for v in bounds)
        best = rows0.clone()
        best_n = torch.full((n * t_n,), math.inf, dtype=x0.dtype, device=x0.device)
        x = rows0
        for it in range(self.config["max_steps"] + 1):
            dist = (x - rows0).norm(dim=1)
            better = self._adversarial(model, x, label) & (dist < best_n)
            best[better], best_n[better] = x[better], dist[better]
            done = bool(torch.isfinite(best_n.view(n, t_n)).any(1).all())
            if it == self.config["max_steps"] or (it >= self.config["steps"] and done):
                break
            x = self._step(x, rows0, comp, src, tgt, margin)
            if b is not None:
                x = torch.maximum(torch.minimum(x, b[1]), b[0])
        rows = torch.arange(n, device=x0.device) * t_n + best_n.view(n, t_n).argmin(1)
        found = torch.isfinite(best_n[rows])
        return self._polish(model, x0, c, src, tgt, best[rows], found, bounds), found

    def _polish(self, model: BayesOptimalClassifier, x0: Tensor, c: int,
                src: lowrank.LowRankMixture, tgt: lowrank.LowRankMixture, x: Tensor,
                found: Tensor, bounds: Bounds) -> Tensor:
        """``polish_steps`` projections of x0 (n, d) onto the full classifier's boundary
        ``f = F_c - F_{1-c} = 0`` (F: log-sum-exp or max over the class's components),
        linearised at the current adversarial point x (n, d); keeps the best verified."""
        label = torch.full((len(x0),), c, dtype=torch.long, device=x0.device)
        best = x.clone()
        best_n = torch.where(found, (x - x0).norm(dim=1), math.inf)
        for _ in range(self.config["polish_steps"]):
            f, g = _class_gap(model.mode, x, src, tgt)
            lam = (f + (g * (x0 - x)).sum(1)) / g.square().sum(1).clamp_min(1e-300)
            x = x0 - (1.0 + self.config["overshoot"]) * lam[:, None] * g
            if bounds is not None:
                x = torch.maximum(torch.minimum(x, bounds[1]), bounds[0])
            dist = (x - x0).norm(dim=1)
            better = found & self._adversarial(model, x, label) & (dist < best_n)
            best[better], best_n[better] = x[better], dist[better]
        return best

    def _step(self, x: Tensor, x0: Tensor, comp: Tensor, src: lowrank.LowRankMixture,
              tgt: lowrank.LowRankMixture, margin: float) -> Tensor:
        """Project x0 (M, d) onto ``s_k(x) - s_t(x) + margin <= 0`` for every source
        component k, each constraint linearised at the iterate x (M, d); t = comp (M,)."""
        s, g_s = lowrank.scores_and_grads(x, src)                           # (M,Ks), (M,Ks,d)
        s_t = lowrank.gathered_logpdf(x, tgt, comp)                         # (M,)
        g_t = -lowrank.gathered_precision(x - tgt.means[comp], tgt, comp)   # (M,d)
        jac = g_s - g_t[:, None, :]                                         # (M,Ks,d)
        rhs = s - s_t[:, None] + margin + (jac @ (x0 - x)[:, :, None]).squeeze(2)
        lam = nonneg_qp(jac @ jac.transpose(1, 2), rhs, self.config["qp_sweeps"])
        step = (jac.transpose(1, 2) @ lam[:, :, None]).squeeze(2)
        return x0 - (1.0 + self.config["overshoot"]) * step

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


def _flat_rows(t: Tensor, rows: Tensor, dtype: torch.dtype) -> Tensor:
    """A bound's rows ``rows`` flattened to (len(rows), d) in ``dtype``; a scalar bound as is."""
    return t[rows].reshape(len(rows), -1).to(dtype) if t.dim() else t.to(dtype)


def _rows(v: Tensor, rows: Tensor, n: int) -> Tensor:
    """``v[rows]`` for a per-sample bound (n, d); a scalar bound unchanged."""
    return v[rows] if v.dim() and v.shape[0] == n else v


def _class_gap(mode: str, x: Tensor, src: lowrank.LowRankMixture, tgt: lowrank.LowRankMixture
               ) -> tuple[Tensor, Tensor]:
    """Class score difference F_src(x) - F_tgt(x) (n,) and its gradient (n, d); F is the
    log-sum-exp (mode "exact") or the max over components of log pi + log N."""
    out = []
    for mix in (src, tgt):
        s, g = lowrank.scores_and_grads(x, mix)                             # (n,K), (n,K,d)
        if mode == "exact":
            w = torch.softmax(s, 1)
            out.append((torch.logsumexp(s, 1), (w[:, :, None] * g).sum(1)))
        else:
            k = s.argmax(1)
            out.append((s.gather(1, k[:, None]).squeeze(1), g[torch.arange(len(x), device=k.device), k]))
    return out[0][0] - out[1][0], out[0][1] - out[1][1]


def nonneg_qp(q: Tensor, c: Tensor, sweeps: int) -> Tensor:
    """argmin over lam >= 0 of 1/2 lam^T Q lam - c^T lam, for a batch of small problems,
    by exact coordinate descent (Hildreth's method).

    Args:
        q: (M, m, m) symmetric positive semi-definite; c: (M, m); sweeps: passes over m.
    Returns:
        lam (M, m) >= 0.
    """
    lam = torch.zeros_like(c)
    diag = q.diagonal(dim1=1, dim2=2).clamp_min(torch.finfo(q.dtype).tiny)
    for _ in range(sweeps):
        for i in range(c.shape[1]):
            r = c[:, i] - (q[:, i, :] * lam).sum(1)
            lam[:, i] = (lam[:, i] + r / diag[:, i]).clamp_min(0.0)
    return lam


__all__ = ["LDGrad", "nonneg_qp"]
