"""Features paper, Figure 14: a 2-D task where ERM is accurate but not robust.

Two features both separate the classes perfectly:

* ``x1`` (robust): ``y * U[0.3, 0.9]`` — every point is at least 0.3 from ``x1 = 0``;
* ``x2`` (non-robust): ``y * U[0.03, 0.09]`` — predictive, but on a tiny scale.

Standard empirical risk minimisation of a linear classifier leans on ``x2`` and learns a
nearly horizontal boundary: accurate, but every point lies within ~0.1 of it. Training
against an L2 adversary (exact for linear models: the worst-case margin is
``y (w^T x + b) - eps ||w||``) ignores ``x2`` and learns ``x1 = 0``: accurate and robust.

ERM variants: least squares (= Fisher LDA, the Gaussian MLE classifier of Section 4)
and logistic regression on standardised features (the usual preprocessing). Logistic
regression on the raw features is reported too: with separable data it tends to the
maximum-L2-margin separator, which is robust here — the paper's "any standard loss"
holds only for learners whose geometry is not the L2 one (docs/theory.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

DTYPE = torch.float64


@dataclass(frozen=True)
class Linear:
    """A linear classifier ``sign(w^T x + b)``; w (2,), b scalar (in the raw input space)."""

    w: Tensor
    b: float

    def margin(self, x: Tensor, y: Tensor) -> Tensor:
        """Signed L2 distance of each point to the boundary, positive when correct: (n,)."""
        return y * (x @ self.w + self.b) / self.w.norm()

    def angle_deg(self) -> float:
        """Angle between the boundary and the x2 axis (90 = horizontal, 0 = vertical)."""
        return float(torch.rad2deg(torch.atan2(self.w[1].abs(), self.w[0].abs())))


def sample(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``n`` points: x (n, 2) float64, y (n,) float64 in {-1, +1}."""
    y = (torch.randint(0, 2, (n,), generator=generator) * 2 - 1).to(DTYPE)
    u = torch.rand(n, 2, generator=generator, dtype=DTYPE)
    x = torch.stack([0.3 + 0.6 * u[:, 0], 0.03 + 0.06 * u[:, 1]], 1) * y[:, None]
    return x, y


def least_squares(x: Tensor, y: Tensor) -> Linear:
    """ERM with the squared loss: ``min E (w^T x + b - y)^2`` (closed form)."""
    a = torch.cat([x, torch.ones(len(x), 1, dtype=DTYPE)], 1)
    sol = torch.linalg.lstsq(a, y[:, None]).solution[:, 0]
    return Linear(sol[:2], float(sol[2]))


def _logistic(x: Tensor, y: Tensor, eps: float, weight_decay: float, steps: int) -> tuple[Tensor, Tensor]:
    """Minimise ``E log(1 + exp(-(y (w^T x + b) - eps ||w||))) + wd/2 ||w||^2`` (L-BFGS)."""
    w = torch.zeros(2, dtype=DTYPE, requires_grad=True)
    b = torch.zeros((), dtype=DTYPE, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-10, tolerance_change=1e-14)

    def closure() -> Tensor:
        opt.zero_grad()
        norm = (w.pow(2).sum() + 1e-12).sqrt()
        z = y * (x @ w + b) - eps * norm  # worst-case margin in the L2 ball (exact)
        loss = torch.nn.functional.softplus(-z).mean() + 0.5 * weight_decay * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def logistic(x: Tensor, y: Tensor, *, standardise: bool, weight_decay: float = 1e-3,
             steps: int = 500) -> Linear:
    """ERM with the logistic loss (and a little weight decay), optionally on standardised features."""
    mean, std = (x.mean(0), x.std(0)) if standardise else (torch.zeros(2, dtype=DTYPE), torch.ones(2, dtype=DTYPE))
    w, b = _logistic((x - mean) / std, y, 0.0, weight_decay, steps)
    w_raw = w / std
    return Linear(w_raw, float(b - (w_raw * mean).sum()))


def robust_logistic(x: Tensor, y: Tensor, eps: float, weight_decay: float = 1e-3, steps: int = 500) -> Linear:
    """Adversarial training: the logistic loss of the worst L2 perturbation of norm ``eps``."""
    w, b = _logistic(x, y, eps, weight_decay, steps)
    return Linear(w, float(b))


def evaluate(clf: Linear, x: Tensor, y: Tensor, eps: float) -> dict[str, float]:
    """Clean accuracy, exact robust accuracy at ``eps`` (margin > eps), median margin, angle."""
    m = clf.margin(x, y)
    return {"accuracy": float((m > 0).double().mean()), "robust_accuracy": float((m > eps).double().mean()),
            "median_margin": float(m.median()), "angle_deg": clf.angle_deg()}


def figure14_experiment(n: int, eps: float, generator: torch.Generator) -> tuple[dict[str, Linear], Tensor, Tensor, dict[str, dict[str, float]]]:
    """Train every classifier on ``n`` points, evaluate on ``n`` fresh ones at ``eps``."""
    x, y = sample(n, generator)
    xt, yt = sample(n, generator)
    clfs = {
        "ERM, squared loss (LDA)": least_squares(x, y),
        "ERM, logistic, standardised": logistic(x, y, standardise=True),
        "ERM, logistic, raw features": logistic(x, y, standardise=False),
        f"robust logistic (L2 eps={eps:g})": robust_logistic(x, y, eps),
    }
    return clfs, xt, yt, {k: evaluate(c, xt, yt, eps) for k, c in clfs.items()}
