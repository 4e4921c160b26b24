"""Theory: closed forms of the features paper's Gaussian model vs numerics (fast sizes)."""

from __future__ import annotations

import math

import pytest
import torch

from advlab.errors import AdvlabError
from advlab.theory.gaussian import (
    DTYPE,
    GaussianModel,
    gaussian_nll,
    lagrangian_perturbation,
    optimal_l2_perturbation,
    robust_covariance,
    robust_mle_per_sample,
    robust_mle_relaxed,
    sphere_max,
    theorem1_gap,
    theorem1_monte_carlo,
    worst_case_cosine,
    worst_case_cosine_numeric,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("eps", [0.05, 1.0, 30.0])
def test_lemma1_delta_has_norm_eps_and_beats_random_perturbations(eps: float) -> None:
    g = _gen()
    sigma = torch.tensor([1.0, 0.3, 0.02, 2.0], dtype=DTYPE)
    mu = torch.zeros(4, dtype=DTYPE)
    x = torch.randn(50, 4, generator=g, dtype=DTYPE)
    delta, lam = optimal_l2_perturbation(x, mu, sigma, eps)
    assert torch.allclose(delta.norm(dim=1), torch.full((50,), eps, dtype=DTYPE), rtol=1e-10)
    assert bool((lam * sigma.min() >= 1).all())  # the global-maximum branch
    assert torch.allclose(delta, x / (lam[:, None] * sigma - 1), rtol=1e-8)  # (lambda Sigma - I)^-1 v
    best = gaussian_nll(x + delta, mu, sigma)
    r = torch.randn(50, 2000, 4, generator=g, dtype=DTYPE)
    r = eps * r / r.norm(dim=-1, keepdim=True)
    rand = gaussian_nll(x[:, None] + r, mu, sigma).max(1).values
    assert bool((best >= rand - 1e-9).all())


def test_sphere_max_matches_brute_force_in_2d_and_handles_the_hard_case() -> None:
    sigma = torch.tensor([0.5, 2.0], dtype=DTYPE)
    w = torch.tensor([[0.3, -1.2], [1e-3, 2.0]], dtype=DTYPE)
    ang = torch.linspace(0, 2 * math.pi, 200001, dtype=DTYPE)
    circle = torch.stack([ang.cos(), ang.sin()], 1)
    for eps in (0.2, 3.0):
        u, _ = sphere_max(w, sigma, eps)
        for j in range(2):
            brute = ((w[j] + eps * circle) ** 2 / sigma).sum(1).max()
            assert float(((w[j] + u[j]) ** 2 / sigma).sum()) == pytest.approx(float(brute), rel=1e-8)
    u, lam = sphere_max(torch.tensor([[0.0, 1.0]], dtype=DTYPE), torch.tensor([1.0, 2.0], dtype=DTYPE), 5.0)
    assert float(u.norm()) == pytest.approx(5.0) and float(lam) == pytest.approx(1.0)


def test_lagrangian_adversary_is_the_maximiser() -> None:
    g = _gen(1)
    sigma = torch.tensor([1.0, 0.2, 0.5], dtype=DTYPE)
    v = torch.randn(20, 3, generator=g, dtype=DTYPE)
    c = 1.5 / 0.2
    d = lagrangian_perturbation(v, sigma, c)

    def obj(delta: torch.Tensor) -> torch.Tensor:
        return ((v + delta) ** 2 / sigma).sum(-1) - c * (delta**2).sum(-1)

    assert bool((obj(d) >= obj(d + 0.01 * torch.randn(20, 3, generator=g, dtype=DTYPE))).all())
    with pytest.raises(AdvlabError, match="C"):
        lagrangian_perturbation(v, sigma, 4.0)  # C below 1 / sigma_min: not concave


def test_theorem1_closed_form_matches_monte_carlo_and_printed_form_misses_the_nll() -> None:
    m = GaussianModel(torch.ones(4), torch.tensor([1.0, 0.5, 0.1, 0.05]))
    c = 2 / 0.05
    mc, se = theorem1_monte_carlo(m, c, 40000, _gen(2), "mahalanobis")
    assert abs(theorem1_gap(m.sigma, c) - mc) < 4 * se
    mc, se = theorem1_monte_carlo(m, c, 40000, _gen(3), "nll")
    assert abs(theorem1_gap(m.sigma, c, "nll") - mc) < 4 * se
    assert abs(theorem1_gap(m.sigma, c) - mc) > 100 * se  # as printed it is ~2x the NLL gap


def test_theorem1_isotropic_covariance_minimises_the_gap_for_a_fixed_trace() -> None:
    iso = theorem1_gap(torch.full((3,), 1.0, dtype=DTYPE), 3.0)
    for s in ([1.2, 0.9, 0.9], [0.5, 1.0, 1.5], [0.4, 0.4, 2.2]):
        assert theorem1_gap(torch.tensor(s, dtype=DTYPE), 3.0) > iso


@pytest.mark.parametrize("d", [2, 5])
def test_theorem2_closed_form_equals_numerical_robust_mle_of_relaxed_problem(d: int) -> None:
    g = _gen(d)
    sigma = torch.exp(torch.empty(d, dtype=DTYPE).uniform_(-4, 0, generator=g))
    mu = torch.randn(d, generator=g, dtype=DTYPE)
    for eps in (0.3, 1.0, 3.0):
        closed, lam = robust_covariance(sigma, eps)
        m = 1 / (lam * closed - 1)
        assert float((sigma * m**2).sum()) == pytest.approx(eps**2, rel=1e-9)  # E||Mv||^2 = eps^2
        fit = robust_mle_relaxed(mu, sigma, eps)
        assert torch.allclose(fit.sigma, closed, rtol=1e-5)
        assert torch.allclose(fit.mu, mu, atol=1e-5)


def test_theorem2_limits_and_condition_number() -> None:
    sigma = torch.tensor([1.0, 0.01], dtype=DTYPE)
    assert torch.equal(robust_covariance(sigma, 0.0)[0], sigma)
    small, lam = robust_covariance(sigma, 1e-4)
    assert torch.allclose(small, sigma, rtol=1e-2)
    assert lam * 1e-4 == pytest.approx(float((1 / sigma).sum().sqrt()), rel=1e-2)  # lambda ~ sqrt(tr Sigma*^-1)/eps
    big = robust_covariance(sigma, 1.0)[0]
    assert float(big.max() / big.min()) < float(sigma.max() / sigma.min())


def test_per_sample_fit_is_a_fixed_point_of_the_adversarial_mle() -> None:
    x = GaussianModel(torch.tensor([1.0, 0.2]), torch.tensor([1.0, 0.05])).sample_centred(3000, _gen(4))
    fit = robust_mle_per_sample(x, 0.5)
    delta, _ = optimal_l2_perturbation(x, fit.mu, fit.sigma, 0.5)
    z = x + delta
    assert torch.allclose(fit.mu, z.mean(0), atol=1e-4)
    assert torch.allclose(fit.sigma, ((z - fit.mu) ** 2).mean(0), rtol=1e-4)
    closed = robust_covariance(x.var(0, unbiased=False), 0.5)[0]
    assert torch.allclose(fit.sigma, closed, rtol=0.15)  # close to, not equal to, the relaxed optimum


def test_worst_case_cosine_formula_matches_numeric_minimum() -> None:
    sigma = torch.tensor([2.0, 0.1, 0.7], dtype=DTYPE)
    assert worst_case_cosine_numeric(sigma, generator=_gen(5)) == pytest.approx(worst_case_cosine(sigma), abs=1e-6)
    robust = robust_covariance(sigma, 1.0)[0]
    assert worst_case_cosine(robust) > worst_case_cosine(sigma)


def test_bad_arguments_raise_one_clear_error() -> None:
    with pytest.raises(AdvlabError, match="eps"):
        robust_covariance(torch.ones(2), -1.0)
    with pytest.raises(AdvlabError, match="sigma"):
        sphere_max(torch.ones(1, 2), torch.tensor([1.0, 0.0]), 1.0)
