"""Gaussian maximum likelihood under an L2 adversary (features paper, Section 4 / App. E).

The model: ``y ~ U{-1, +1}``, ``x ~ N(y mu*, Sigma*)`` with diagonal ``Sigma*``. By the
coupling argument of App. E.1 the learner estimates one Gaussian ``N(mu, Sigma)`` from
``y x ~ N(mu*, Sigma*)`` and classifies with ``sign(x^T Sigma^-1 mu)``. Diagonal matrices
are stored as their diagonals, shape ``(d,)``; batches of points have shape ``(n, d)``.
Everything is float64.

Contents:

* :func:`optimal_l2_perturbation` — Lemma 1: ``delta* = (lambda Sigma - I)^-1 v`` with
  ``lambda`` solved so that ``||delta*|| = eps`` (the global maximiser of the NLL on the
  sphere; ``lambda > 1 / sigma_min``).
* :func:`theorem1_gap` and :func:`theorem1_monte_carlo` — the adversarial loss gap of a
  Lagrangian adversary, in the paper's convention (squared Mahalanobis distance) and for
  the true Gaussian NLL (see docs/theory.md for the difference).
* :func:`robust_covariance` — Theorem 2 / Lemma 4 with ``lambda`` from the constraint
  ``E ||M v||^2 = eps^2`` of problem (14)/(20).
* :func:`robust_mle_relaxed` and :func:`robust_mle_per_sample` — the robust MLE solved
  numerically by adversarial training (inner maximisation, then L-BFGS steps on the
  outer objective with the maximiser held fixed, per Danskin's theorem).
* :func:`gradient_cosine` and :func:`worst_case_cosine` — Theorem 3.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from advlab.errors import bad_argument

DTYPE = torch.float64


def _as_vec(name: str, t: Tensor | list[float]) -> Tensor:
    t = torch.as_tensor(t, dtype=DTYPE)
    if t.ndim != 1 or t.numel() == 0:
        raise bad_argument(name, tuple(t.shape), "a non-empty 1-D tensor (the diagonal)")
    return t


def _check_cov(sigma: Tensor) -> Tensor:
    sigma = _as_vec("sigma", sigma)
    if not bool(torch.all(sigma > 0)):
        raise bad_argument("sigma", sigma.min().item(), "a diagonal with every entry > 0")
    return sigma


def _check_eps(eps: float) -> float:
    if not (eps >= 0 and math.isfinite(eps)):
        raise bad_argument("eps", eps, "a finite number >= 0")
    return float(eps)


@dataclass(frozen=True)
class GaussianModel:
    """``x ~ N(y mu, diag(sigma))``, ``y`` uniform on {-1, +1}.

    Attributes:
        mu: (d,) class mean of y = +1.
        sigma: (d,) diagonal of the shared covariance, every entry > 0.
    """

    mu: Tensor
    sigma: Tensor

    def __post_init__(self) -> None:
        mu, sigma = _as_vec("mu", self.mu), _check_cov(self.sigma)
        if mu.shape != sigma.shape:
            raise bad_argument("mu", tuple(mu.shape), f"the shape of sigma {tuple(sigma.shape)}")
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "sigma", sigma)

    @property
    def d(self) -> int:
        return int(self.mu.numel())

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Draw ``n`` labelled points: x (n, d) float64, y (n,) int64 in {-1, +1}."""
        y = torch.randint(0, 2, (n,), generator=generator) * 2 - 1
        z = torch.randn(n, self.d, generator=generator, dtype=DTYPE)
        return y[:, None] * self.mu + z * self.sigma.sqrt(), y

    def sample_centred(self, n: int, generator: torch.Generator) -> Tensor:
        """``y x`` for ``n`` labelled points: samples of N(mu, Sigma), shape (n, d)."""
        z = torch.randn(n, self.d, generator=generator, dtype=DTYPE)
        return self.mu + z * self.sigma.sqrt()


# ---------------------------------------------------------------- Lemma 1


def sphere_max(w: Tensor, sigma: Tensor, eps: float, iters: int = 50) -> tuple[Tensor, Tensor]:
    """Maximise ``sum_i (w_i + u_i)^2 / sigma_i`` over ``||u|| = eps``, row by row.

    The maximiser is ``u = w / (lambda sigma - 1)`` with the multiplier
    ``lambda >= 1 / sigma_min`` (a convex quadratic is maximised on the sphere where
    ``lambda I - Sigma^-1`` is positive semi-definite). Write ``lambda sigma_min = 1 + t``:
    ``psi(t) = 1 / ||u(t)|| - 1 / eps`` is increasing and concave in ``t`` (as in the
    trust-region secular equation), so Newton's method started left of the root, at
    ``t0 = |w_k| / eps`` with ``k`` the index of ``sigma_min`` (where ``||u|| >= eps``),
    climbs monotonically to it. In the "hard case" (``w_k = 0`` and the norm cannot reach
    ``eps``) the rest of the budget goes on coordinate ``k``.

    Args:
        w: (n, d) points relative to the mean (``v = x - mu``).
        sigma: (d,) diagonal covariance.
        eps: the radius.

    Returns:
        u (n, d) with ``||u_j|| = eps``, and lambda (n,).
    """
    sigma, eps = _check_cov(sigma), _check_eps(eps)
    w = torch.as_tensor(w, dtype=DTYPE)
    if eps == 0:
        return torch.zeros_like(w), torch.full(w.shape[:1], math.inf, dtype=DTYPE)
    k = int(torch.argmin(sigma))
    s_min = sigma[k]
    ratio = sigma / s_min  # >= 1
    floor = 1e-100
    t = (w[:, k].abs() / eps).clamp_min(floor)
    nz = w != 0  # zero coordinates contribute nothing (avoids 0/0 in the hard case)
    for _ in range(iters):
        den = (ratio - 1) + t[:, None] * ratio  # lambda sigma_i - 1, no cancellation at small t
        norm = torch.where(nz, w**2 / den**2, 0).sum(1).sqrt().clamp_min(1e-300)
        slope = torch.where(nz, w**2 * ratio / den**3, 0).sum(1) / norm**3  # d psi / dt
        step = (1 / norm - 1 / eps) / slope
        t_new = (t - step).clamp_min(floor)
        done = bool(((t_new - t).abs() <= 1e-15 * t).all())
        t = t_new
        if done:
            break
    u = torch.where(nz, w / ((ratio - 1) + t[:, None] * ratio), 0)
    short = eps**2 - u.pow(2).sum(1)
    hard = short > 1e-9 * eps**2  # only when w_k == 0 (measure zero)
    if bool(hard.any()):
        u[hard, k] = u[hard, k] + short[hard].clamp_min(0).sqrt()
    return u, (1 + t) / s_min


def optimal_l2_perturbation(x: Tensor, mu: Tensor, sigma: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Lemma 1: the perturbation of L2 norm ``eps`` that maximises the Gaussian NLL.

    Args:
        x: (n, d) points; mu: (d,) mean; sigma: (d,) diagonal covariance.

    Returns:
        delta (n, d) ``= (lambda Sigma - I)^-1 (x - mu)`` with ``||delta_j|| = eps``, and
        lambda (n,).
    """
    x = torch.as_tensor(x, dtype=DTYPE)
    return sphere_max(x - _as_vec("mu", mu), sigma, eps)


def gaussian_nll(x: Tensor, mu: Tensor, sigma: Tensor) -> Tensor:
    """Per-point Gaussian NLL with diagonal covariance: (n, d) -> (n,)."""
    q = ((x - mu) ** 2 / sigma).sum(-1)
    return 0.5 * (q + sigma.log().sum() + sigma.numel() * math.log(2 * math.pi))


# ---------------------------------------------------------------- Theorem 1


def _check_c(sigma: Tensor, c: float, convention: str) -> float:
    floor = 1 / sigma.min().item() if convention == "mahalanobis" else 0.5 / sigma.min().item()
    if convention not in ("mahalanobis", "nll"):
        raise bad_argument("convention", convention, "'mahalanobis' or 'nll'")
    if not c > floor:
        raise bad_argument("C", c, f"C > {floor:.6g} so that the Lagrangian problem is concave")
    return float(c)


def lagrangian_perturbation(v: Tensor, sigma: Tensor, c: float, convention: str = "mahalanobis") -> Tensor:
    """The maximiser of ``loss(v + delta) - C ||delta||^2`` (v: (n, d) -> delta: (n, d)).

    ``convention="mahalanobis"`` takes the loss as ``(x-mu)^T Sigma^-1 (x-mu)`` (the
    paper's proof of Lemma 1, constants dropped): ``delta = (C Sigma - I)^-1 v``.
    ``convention="nll"`` takes the true NLL (a factor 1/2): ``delta = (2 C Sigma - I)^-1 v``.
    """
    sigma = _check_cov(sigma)
    c = _check_c(sigma, c, convention)
    k = c if convention == "mahalanobis" else 2 * c
    return torch.as_tensor(v, dtype=DTYPE) / (k * sigma - 1)


def theorem1_gap(sigma_star: Tensor, c: float, convention: str = "mahalanobis") -> float:
    """Closed form of ``L_adv - L`` at the MLE for the Lagrangian adversary.

    ``mahalanobis`` (as printed): ``tr[(I + (C Sigma* - I)^-1)^2] - d``.
    ``nll`` (true Gaussian NLL): ``(tr[(I + (2C Sigma* - I)^-1)^2] - d) / 2``.
    """
    s = _check_cov(sigma_star)
    c = _check_c(s, c, convention)
    if convention == "mahalanobis":
        return float((1 + 1 / (c * s - 1)).pow(2).sum() - s.numel())
    return float(0.5 * ((1 + 1 / (2 * c * s - 1)).pow(2).sum() - s.numel()))


def theorem1_monte_carlo(model: GaussianModel, c: float, n: int, generator: torch.Generator,
                         convention: str = "mahalanobis") -> tuple[float, float]:
    """Monte-Carlo ``E[loss(x + delta*) - loss(x)]`` at ``(mu*, Sigma*)``; returns (mean, se).

    The loss is the squared Mahalanobis distance (``mahalanobis``) or the Gaussian NLL
    (``nll``); ``delta*`` is the Lagrangian adversary for that loss.
    """
    x = model.sample_centred(n, generator)
    v = x - model.mu
    delta = lagrangian_perturbation(v, model.sigma, c, convention)
    if convention == "mahalanobis":
        gap = ((v + delta) ** 2 / model.sigma).sum(1) - (v**2 / model.sigma).sum(1)
    else:
        gap = gaussian_nll(x + delta, model.mu, model.sigma) - gaussian_nll(x, model.mu, model.sigma)
    return float(gap.mean()), float(gap.std() / math.sqrt(n))


# ---------------------------------------------------------------- Theorem 2


def _robust_m(sigma_star: Tensor, lam: Tensor | float) -> Tensor:
    """The adversary's diagonal ``M = (lambda Sigma_r - I)^-1`` at the fixed point (d,)."""
    a = torch.as_tensor(lam, dtype=DTYPE) * sigma_star
    return 1 / (a / 2 + (a + a**2 / 4).sqrt())


def robust_covariance(sigma_star: Tensor, eps: float, iters: int = 200) -> tuple[Tensor, float]:
    """Theorem 2 (Lemma 4): ``Sigma_r = Sigma*/2 + I/lambda + sqrt(Sigma*/lambda + Sigma*^2/4)``.

    ``lambda`` is fixed by the constraint of (14)/(20), ``E ||M v||^2 = tr(Sigma* M^2) =
    eps^2`` with ``M = (lambda Sigma_r - I)^-1``, solved by bisection in log lambda (the
    left side decreases in lambda from infinity to 0).

    Returns:
        Sigma_r (d,) and lambda (inf when eps = 0).
    """
    s, eps = _check_cov(sigma_star), _check_eps(eps)
    if eps == 0:
        return s.clone(), math.inf
    lo, hi = math.log(1e-300), math.log(1e300)
    for _ in range(iters):
        mid = (lo + hi) / 2
        if float((s * _robust_m(s, math.exp(mid)) ** 2).sum()) > eps**2:
            lo = mid
        else:
            hi = mid
    lam = math.exp((lo + hi) / 2)
    return s / 2 + 1 / lam + (s / lam + s**2 / 4).sqrt(), lam


@dataclass
class RobustFit:
    """A robust MLE found numerically: mean (d,), covariance diagonal (d,), final loss."""

    mu: Tensor
    sigma: Tensor
    loss: float
    iterations: int


def _lbfgs(params: list[Tensor], objective: Callable[[], Tensor], max_iter: int) -> tuple[float, int]:
    """Minimise ``objective()`` (a closure returning a scalar with grad) with L-BFGS."""
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, tolerance_grad=1e-12,
                            tolerance_change=1e-15, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    loss = opt.step(closure)
    return float(loss.detach()), int(opt.state[opt._params[0]]["n_iter"])


def robust_mle_relaxed(mu_star: Tensor, sigma_star: Tensor, eps: float, max_iter: int = 500) -> RobustFit:
    """Robust MLE of problem (14)/(20), by adversarial training on exact expectations.

    The outer variables are ``(mu, log Sigma)`` started at ``(0, I)``. With
    ``v = x - mu``, ``w_i = sqrt(E v_i^2) = sqrt(sigma*_i + (mu*_i - mu_i)^2)`` and
    ``u_i = m_i w_i``, the objective is ``E[NLL(x + M v; mu, Sigma)] = 1/2 sum_i
    [(w_i + u_i)^2 / sigma_i + log sigma_i]`` (constants dropped) and the constraint
    ``E ||M v||^2 = eps^2`` is the fixed sphere ``||u|| = eps``. Each evaluation solves the
    inner maximisation exactly (:func:`sphere_max`, i.e. ``M = (lambda Sigma - I)^-1``);
    with ``u`` held fixed (Danskin), L-BFGS steps on ``(mu, log Sigma)``.
    """
    mu_star, s = _as_vec("mu_star", mu_star), _check_cov(sigma_star)
    eps = _check_eps(eps)
    mu = torch.zeros_like(mu_star, requires_grad=True)
    log_sigma = torch.zeros_like(s, requires_grad=True)

    def objective() -> Tensor:
        w = (s + (mu_star - mu) ** 2).sqrt()  # sqrt E[v_i^2], depends on mu
        with torch.no_grad():  # inner maximisation; u ranges over a fixed sphere
            u = sphere_max(w[None], log_sigma.exp(), eps)[0][0]
        return 0.5 * ((w + u) ** 2 / log_sigma.exp() + log_sigma).sum()

    loss, it = _lbfgs([mu, log_sigma], objective, max_iter)
    return RobustFit(mu.detach(), log_sigma.detach().exp(), loss, it)


def robust_mle_per_sample(x: Tensor, eps: float, max_iter: int = 200) -> RobustFit:
    """Robust MLE of the per-sample problem (13): ``min E max_{||delta|| = eps} NLL``.

    ``x`` (n, d) are samples of ``N(mu*, Sigma*)``. Each evaluation computes Lemma 1's
    ``delta_j`` for every sample at the current ``(mu, Sigma)`` (no gradient), then the
    empirical NLL of ``x + delta`` is minimised by L-BFGS over ``(mu, log Sigma)``,
    started at the sample moments.
    """
    x = torch.as_tensor(x, dtype=DTYPE)
    if x.ndim != 2 or x.shape[0] < 2:
        raise bad_argument("x", tuple(x.shape), "a 2-D tensor (n, d) with n >= 2")
    eps = _check_eps(eps)
    mu = x.mean(0).clone().requires_grad_(True)
    log_sigma = x.var(0).log().clone().requires_grad_(True)

    def objective() -> Tensor:
        with torch.no_grad():
            delta, _ = optimal_l2_perturbation(x, mu, log_sigma.exp(), eps)
        z = x + delta - mu
        return 0.5 * ((z**2).mean(0) / log_sigma.exp() + log_sigma).sum()

    loss, it = _lbfgs([mu, log_sigma], objective, max_iter)
    return RobustFit(mu.detach(), log_sigma.detach().exp(), loss, it)


# ---------------------------------------------------------------- Theorem 3


def gradient_cosine(mu: Tensor, sigma: Tensor) -> float:
    """Cosine between ``mu`` and the input gradient ``Sigma^-1 mu`` of ``f(x) = x^T Sigma^-1 mu``."""
    mu, sigma = _as_vec("mu", mu), _check_cov(sigma)
    g = mu / sigma
    return float(mu @ g / (mu.norm() * g.norm()))


def worst_case_cosine(sigma: Tensor) -> float:
    """``min_mu cos(mu, Sigma^-1 mu) = 2 sqrt(kappa) / (1 + kappa)``, kappa = cond(Sigma) (Lemma 8)."""
    sigma = _check_cov(sigma)
    kappa = float(sigma.max() / sigma.min())
    return 2 * math.sqrt(kappa) / (1 + kappa)


def worst_case_cosine_numeric(sigma: Tensor, restarts: int = 8, steps: int = 300,
                              generator: torch.Generator | None = None) -> float:
    """``min_mu cos(mu, Sigma^-1 mu)`` by gradient descent over ``mu`` from random starts."""
    sigma = _check_cov(sigma)
    mu = torch.randn(restarts, sigma.numel(), generator=generator, dtype=DTYPE).abs()
    mu.requires_grad_(True)
    opt = torch.optim.Adam([mu], lr=0.05)
    for _ in range(steps):
        g = mu / sigma
        cos = (mu * g).sum(1) / (mu.norm(dim=1) * g.norm(dim=1))
        opt.zero_grad()
        cos.sum().backward()
        opt.step()
    with torch.no_grad():
        g = mu / sigma
        cos = (mu * g).sum(1) / (mu.norm(dim=1) * g.norm(dim=1))
    return float(cos.min())
