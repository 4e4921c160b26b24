"""Gaussians with low-rank plus diagonal covariance, Sigma = A A^T + D, never forming d x d.

Notation: K components, d dimensions, l latent factors. For one component,

* ``M = I_l + A^T D^-1 A`` (l x l) with Cholesky factor ``L`` (``M = L L^T``);
* Woodbury: ``Sigma^-1 = D^-1 - D^-1 A M^-1 A^T D^-1``;
* determinant lemma: ``log|Sigma| = log|M| + sum_j log D_j``;
* the posterior mean of the latent factors is ``m = M^-1 A^T D^-1 r`` for ``r = x - mu``,
  and the quadratic form is evaluated as ``r^T Sigma^-1 r = ||(r - A m) / sqrt(D)||^2 +
  ||m||^2`` (complete the square over z): a sum of two non-negative terms, so it stays
  accurate even when D is 1e-6 (the symmetric synthetic models), where the textbook
  difference of two large numbers loses every digit in float32. (In float64, scoring
  uses the faster expanded form, see :func:`component_logpdf`.)

Every function costs O(N d l) per component and is differentiable with respect to x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class LowRankMixture:
    """Precomputed quantities of a mixture of K low-rank Gaussians in d dimensions.

    Attributes:
        log_weights: (K,) log mixing weights log pi_k.
        means: (K, d).
        factors: (K, d, l) the loading matrices A_k.
        noise: (K, d) diagonal variances D_k (> 0).
        chol: (K, l, l) lower Cholesky factors of M_k = I + A_k^T D_k^-1 A_k.
        logdet: (K,) log |A_k A_k^T + D_k|.
    """

    log_weights: Tensor
    means: Tensor
    factors: Tensor
    noise: Tensor
    chol: Tensor
    logdet: Tensor

    @property
    def n_components(self) -> int:
        return int(self.means.shape[0])

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])


def prepare(weights: Tensor, means: Tensor, factors: Tensor, noise: Tensor) -> LowRankMixture:
    """Precompute Cholesky factors and log-determinants.

    Args:
        weights: (K,) mixing weights (>= 0, summing to 1; zero weights give -inf).
        means: (K, d); factors: (K, d, l); noise: (K, d) variances > 0.
    """
    k, _, l_dim = factors.shape
    scaled = factors / noise[:, :, None]                                   # D^-1 A  (K,d,l)
    m = torch.eye(l_dim, dtype=means.dtype, device=means.device).expand(k, -1, -1) \
        + factors.transpose(1, 2) @ scaled                                 # (K,l,l)
    chol = torch.linalg.cholesky(m)
    logdet = 2.0 * chol.diagonal(dim1=1, dim2=2).log().sum(1) + noise.log().sum(1)
    return LowRankMixture(weights.log(), means, factors, noise, chol, logdet)


def latent_mean(r: Tensor, factors: Tensor, noise: Tensor, chol: Tensor) -> Tensor:
    """Posterior mean of the latent factors, m = M^-1 A^T D^-1 r.

    Args:
        r: (N, d) residuals x - mu; factors (d, l); noise (d,); chol (l, l).
    Returns:
        (N, l).
    """
    b = (r / noise) @ factors                                               # (N,l)
    return torch.cholesky_solve(b.T, chol).T


def quad_and_latent(r: Tensor, factors: Tensor, noise: Tensor, chol: Tensor
                    ) -> tuple[Tensor, Tensor]:
    """Mahalanobis form r^T Sigma^-1 r (N,) and latent posterior mean m (N, l)."""
    m = latent_mean(r, factors, noise, chol)
    resid = r - m @ factors.T                                               # (N,d)
    q = (resid.square() / noise).sum(1) + m.square().sum(1)
    return q, m


def scoring_matrices(mix: LowRankMixture) -> tuple[Tensor, Tensor, Tensor]:
    """Constants of the float64 scoring path, computed once per mixture.

    With ``c_k = L_k^-1 A_k^T D_k^-1 (x - mu_k)`` (l,), Woodbury gives
    ``r^T Sigma_k^-1 r = x^T D_k^-1 x - 2 mu_k^T D_k^-1 x + mu_k^T D_k^-1 mu_k - ||c_k||^2``,
    so every linear term of all K components comes from one matrix product
    ``x @ rhs + bias`` (the Cholesky factor of M_k is folded into the projection).

    Returns:
        rhs (d, K l + K) = [D^-1 A L^-T for all k | -2 D^-1 mu for all k],
        bias (K l + K,) = [-mu^T D^-1 A L^-T | mu^T D^-1 mu], inv (K, d) = 1 / D.
    """
    k, d, l_dim = mix.factors.shape
    inv = 1.0 / mix.noise                                                   # (K,d)
    proj = torch.linalg.solve_triangular(
        mix.chol, (mix.factors * inv[:, :, None]).transpose(1, 2), upper=False)  # (K,l,d)
    rhs = torch.cat([proj.permute(2, 0, 1).reshape(d, k * l_dim), -2.0 * (mix.means * inv).T], 1)
    bias = torch.cat([-(proj @ mix.means[:, :, None]).reshape(k * l_dim),
                      (mix.means.square() * inv).sum(1)])
    return rhs, bias, inv


def component_logpdf(x: Tensor, mix: LowRankMixture,
                     mats: tuple[Tensor, Tensor, Tensor] | None = None) -> Tensor:
    """log N(x; mu_k, A_k A_k^T + D_k) for every component, *without* log pi_k.

    float64: all K components at once with two matrix products (BLAS3, N d K (l + 2)
    multiply-adds, see :func:`scoring_matrices`; pass ``mats`` to reuse them across
    batches); the subtraction loses at most ~9 of float64's 16 digits when D = 1e-6.
    Other dtypes: the completed-square form per component (no cancellation, memory-bound).

    Args:
        x: (N, d); mats: :func:`scoring_matrices` of ``mix`` (computed when None).
    Returns:
        (N, K).
    """
    if x.dtype != torch.float64:
        return _component_logpdf_stable(x, mix)
    k, d, l_dim = mix.factors.shape
    rhs, bias, inv = scoring_matrices(mix) if mats is None else mats
    p = torch.addmm(bias, x, rhs)                                           # (N, Kl+K)
    c = p[:, :k * l_dim].reshape(-1, k, l_dim)
    q = x.square() @ inv.T + p[:, k * l_dim:] - c.square().sum(2)           # (N,K)
    return -0.5 * (q + mix.logdet + d * LOG_2PI)


def _component_logpdf_stable(x: Tensor, mix: LowRankMixture) -> Tensor:
    out = []
    for k in range(mix.n_components):
        q, _ = quad_and_latent(x - mix.means[k], mix.factors[k], mix.noise[k], mix.chol[k])
        out.append(-0.5 * (q + mix.logdet[k] + mix.dim * LOG_2PI))
    return torch.stack(out, dim=1)


def gathered_logpdf(x: Tensor, mix: LowRankMixture, comp: Tensor) -> Tensor:
    """log pi_c + log N(x_n; component c = comp[n]) for one component per sample.

    Args:
        x: (N, d); comp: (N,) int64 component indices.
    Returns:
        (N,).
    """
    r = x - mix.means[comp]                                                 # (N,d)
    a, noise, chol = mix.factors[comp], mix.noise[comp], mix.chol[comp]
    b = ((r / noise)[:, None, :] @ a).squeeze(1)                            # (N,l)
    m = torch.cholesky_solve(b[:, :, None], chol).squeeze(2)                # (N,l)
    resid = r - (a @ m[:, :, None]).squeeze(2)
    q = (resid.square() / noise).sum(1) + m.square().sum(1)
    return mix.log_weights[comp] - 0.5 * (q + mix.logdet[comp] + mix.dim * LOG_2PI)


def gathered_precision(r: Tensor, mix: LowRankMixture, comp: Tensor) -> Tensor:
    """Sigma_c^-1 r for one component per sample (the gradient of -log N is this).

    Args:
        r: (N, d) residuals x - mu_c; comp: (N,) component indices.
    Returns:
        (N, d) = D^-1 (r - A m) with m the latent posterior mean.
    """
    a, noise, chol = mix.factors[comp], mix.noise[comp], mix.chol[comp]
    b = ((r / noise)[:, None, :] @ a).squeeze(1)
    m = torch.cholesky_solve(b[:, :, None], chol).squeeze(2)
    return (r - (a @ m[:, :, None]).squeeze(2)) / noise


def gathered_quadratic(v: Tensor, mix: LowRankMixture, comp: Tensor) -> Tensor:
    """v^T Sigma_c^-1 v for one component per sample: (N, d) -> (N,)."""
    a, noise, chol = mix.factors[comp], mix.noise[comp], mix.chol[comp]
    b = ((v / noise)[:, None, :] @ a).squeeze(1)
    m = torch.cholesky_solve(b[:, :, None], chol).squeeze(2)
    resid = v - (a @ m[:, :, None]).squeeze(2)
    return (resid.square() / noise).sum(1) + m.square().sum(1)


def scores_and_grads(x: Tensor, mix: LowRankMixture) -> tuple[Tensor, Tensor]:
    """log pi_k + log N_k(x) and its gradient in x, for every component (stable form).

    The gradient of ``log N_k`` is ``-Sigma_k^-1 (x - mu_k) = -D_k^-1 (r - A_k m)``.

    Args:
        x: (N, d).
    Returns:
        scores (N, K), grads (N, K, d). Memory O(N K d).
    """
    r = x[:, None, :] - mix.means                                           # (N,K,d)
    b = torch.einsum("nkd,kdl->knl", r / mix.noise, mix.factors)            # (K,N,l)
    m = torch.cholesky_solve(b.transpose(1, 2), mix.chol)                   # (K,l,N)
    resid = r - torch.einsum("kdl,kln->nkd", mix.factors, m)
    prec = resid / mix.noise                                                # Sigma^-1 r
    q = (resid * prec).sum(2) + m.square().sum(1).T                         # (N,K)
    scores = mix.log_weights - 0.5 * (q + mix.logdet + mix.dim * LOG_2PI)
    return scores, -prec


def dense_covariances(factors: Tensor, noise: Tensor) -> Tensor:
    """A A^T + diag(D) as dense (K, d, d) matrices -- for references and tests only."""
    return factors @ factors.transpose(1, 2) + torch.diag_embed(noise)


__all__ = [
    "LowRankMixture", "prepare", "scoring_matrices", "latent_mean", "quad_and_latent", "component_logpdf",
    "gathered_logpdf", "gathered_precision", "scores_and_grads", "gathered_quadratic", "dense_covariances",
]
