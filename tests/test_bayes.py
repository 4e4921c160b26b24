"""Bayes-optimal classifier, LD-Grad and the synthetic datasets (small d, fast)."""

from __future__ import annotations

import math

import pytest
import torch

from advlab.attacks import AttackResult
from advlab.bayes import (
    MFA,
    BayesOptimalClassifier,
    LDGrad,
    make_synthetic,
    outlier_direction,
)
from advlab.bayes.ldgrad import nonneg_qp
from advlab.bayes.lowrank import dense_covariances
from advlab.data import load_artifact
from advlab.errors import AdvlabError

F64 = torch.float64


def random_mfa(k: int, d: int, n_f: int, seed: int, shift: float = 0.0) -> MFA:
    g = torch.Generator().manual_seed(seed)
    return MFA().set_params_from(
        torch.rand(k, generator=g, dtype=F64) + 0.5,
        torch.randn(k, d, generator=g, dtype=F64) * 2 + shift,
        torch.randn(k, d, n_f, generator=g, dtype=F64) * 0.7,
        torch.rand(k, d, generator=g, dtype=F64) * 0.05 + 0.01)


def dense_loglik(m: MFA, x: torch.Tensor) -> torch.Tensor:
    cov = dense_covariances(m.factors_, m.noise_)
    cols = [torch.distributions.MultivariateNormal(m.means_[k], cov[k]).log_prob(x)
            for k in range(len(m.weights_))]
    return torch.logsumexp(torch.stack(cols, 1) + m.weights_.log(), 1)


def test_logit_difference_is_the_exact_log_likelihood_ratio() -> None:
    m0, m1 = random_mfa(3, 15, 2, 0), random_mfa(4, 15, 2, 1, shift=1.0)
    clf = BayesOptimalClassifier(m0, m1)
    x = torch.randn(100, 15, dtype=F64) * 2
    llr = clf(x)[:, 1] - clf(x)[:, 0]
    assert torch.allclose(llr, dense_loglik(m1, x) - dense_loglik(m0, x), rtol=1e-8, atol=1e-8)
    mx = BayesOptimalClassifier(m0, m1, mode="max_component").class_log_likelihoods(x)
    exact = clf.class_log_likelihoods(x)
    gap = exact - mx
    assert bool((gap >= -1e-9).all()) and bool((gap[:, 0] <= math.log(3) + 1e-9).all())
    with pytest.raises(AdvlabError, match="mode"):
        BayesOptimalClassifier(m0, m1, mode="map")


def test_classifier_is_near_perfect_on_its_own_samples() -> None:
    m0, m1 = random_mfa(3, 30, 2, 2), random_mfa(3, 30, 2, 3, shift=1.0)
    x0, _ = m0.sample(300, random_state=0)
    x1, _ = m1.sample(300, random_state=1)
    clf = BayesOptimalClassifier(m0, m1)
    pred = clf(torch.cat([x0, x1]).float()).argmax(1)
    y = torch.cat([torch.zeros(300), torch.ones(300)]).long()
    assert float((pred == y).float().mean()) >= 0.99


def test_pair_gap_gradient_matches_autograd() -> None:
    m0, m1 = random_mfa(3, 10, 3, 4), random_mfa(3, 10, 3, 5)
    clf = BayesOptimalClassifier(m0, m1)
    x = torch.randn(6, 10, dtype=F64, requires_grad=True)
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    src, tgt = torch.tensor([0, 2, 1, 0, 1, 1]), torch.tensor([1, 0, 2, 1, 0, 0])
    gap, grad = clf.pair_gap(x.detach(), y, src, tgt)
    s0, s1 = clf.component_scores(x, 0), clf.component_scores(x, 1)
    ref = torch.where(y == 0, s0.gather(1, src[:, None]).squeeze(1) - s1.gather(1, tgt[:, None])
                      .squeeze(1), s1.gather(1, src[:, None]).squeeze(1)
                      - s0.gather(1, tgt[:, None]).squeeze(1))
    (auto,) = torch.autograd.grad(ref.sum(), x)
    assert torch.allclose(gap, ref.detach(), rtol=1e-10)
    assert torch.allclose(grad, auto, rtol=1e-8, atol=1e-8)


def spherical(mean: torch.Tensor, var: float) -> MFA:
    d = mean.numel()
    return MFA().set_params_from(torch.ones(1, dtype=F64), mean.reshape(1, d).to(F64),
                                 torch.zeros(1, d, 1, dtype=F64), torch.full((1, d), var, dtype=F64))


def test_ldgrad_reaches_the_closed_form_distance_for_equal_spheres() -> None:
    """Equal isotropic Gaussians: the boundary is the bisecting hyperplane, so the minimal
    L2 perturbation is |u.(x - m)| with u the unit mean difference and m the midpoint."""
    d = 20
    mu0, mu1 = torch.zeros(d, dtype=F64), torch.zeros(d, dtype=F64)
    mu1[0] = 3.0
    clf = BayesOptimalClassifier(spherical(mu0, 1.0), spherical(mu1, 1.0))
    x = torch.randn(200, d, dtype=F64) * 0.5
    y = (x[:, 0] > 1.5).long()
    res = LDGrad()(clf, x, y)
    assert isinstance(res, AttackResult)
    assert bool(res.success.all())
    expected = (x[:, 0] - 1.5).abs()
    assert torch.allclose(res.norms, expected, rtol=1e-3, atol=1e-6)


def test_ldgrad_is_verified_and_no_larger_than_the_pair_projection() -> None:
    m0, m1 = random_mfa(2, 12, 2, 6), random_mfa(2, 12, 2, 7, shift=0.5)
    pair = make_synthetic(m0, m1, variant="symmetric", noise_std=0.01)
    x, y = pair.sample(40, random_state=0)
    clf = pair.classifier()
    res = LDGrad()(clf, x, y)
    assert float(res.success.float().mean()) >= 0.95
    assert bool((clf(res.x_adv).argmax(1) != y)[res.success].all())
    delta = (res.x_adv - x).flatten(1).norm(dim=1)
    assert torch.allclose(delta[res.success], res.norms[res.success], rtol=1e-5)
    with pytest.raises(AdvlabError, match="model"):
        LDGrad()(torch.nn.Linear(12, 2), x, y)


def test_symmetric_and_asymmetric_variants() -> None:
    m0, m1 = random_mfa(3, 16, 2, 8), random_mfa(2, 16, 2, 9)
    data = torch.randn(200, 16, dtype=F64)
    sym = make_synthetic(m0, m1, variant="symmetric")
    assert torch.allclose(sym.mfa0.noise_, torch.full_like(m0.noise_, 1e-6))
    asym = make_synthetic(m0, m1, variant="asymmetric", data=data, outlier_rank=3)
    mean, v = outlier_direction(data, 3)
    cov = torch.cov(data.T)
    eig = torch.linalg.eigvalsh(cov)
    assert torch.allclose(v @ (cov @ v), eig[-3], rtol=1e-6) and abs(float(v.norm()) - 1) < 1e-9
    for mfa, sign, k in ((asym.mfa0, 1, 3), (asym.mfa1, -1, 2)):
        assert mfa.means_.shape[0] == k + 1
        assert torch.allclose(mfa.means_[-1], mean + sign * v)
        assert torch.allclose(mfa.noise_[-1], torch.full((16,), 0.5, dtype=F64))
        assert float(mfa.factors_[-1].abs().max()) == 0.0
        assert math.isclose(float(mfa.weights_[-1]), 1 / (k + 1))
    with pytest.raises(AdvlabError, match="data"):
        make_synthetic(m0, m1, variant="asymmetric")
    with pytest.raises(AdvlabError, match="variant"):
        make_synthetic(m0, m1, variant="skewed")


def test_datasets_are_float32_unclipped_artifacts(tmp_path) -> None:
    m0 = MFA().set_params_from(torch.ones(1, dtype=F64), torch.full((1, 4), 2.0, dtype=F64),
                               torch.zeros(1, 4, 1, dtype=F64), torch.ones(1, 4, dtype=F64))
    pair = make_synthetic(m0, random_mfa(1, 4, 1, 10), variant="fitted")
    out = pair.save_dataset(tmp_path / "ds", n_train=50, n_test=10, seed=0)
    x, y = load_artifact(out, "train")
    xt, yt = load_artifact(out, "test")
    assert x.dtype == torch.float32 and x.shape == (100, 1, 1, 4) and xt.shape == (20, 1, 1, 4)
    assert float(x.max()) > 1.0  # not clipped to [0, 1]
    assert int(y.sum()) == 50 and int(yt.sum()) == 10
    xb, yb = pair.sample_batch(64, torch.Generator().manual_seed(0))
    assert xb.shape == (64, 4) and set(yb.tolist()) <= {0, 1}
    assert bool((xb[yb == 0].mean(0) > 1.0).all())  # class 0 is the mean-2 Gaussian
    xs, ys = next(iter(pair.stream(8, seed=1)))
    assert xs.shape == (8, 4) and ys.shape == (8,)
    pair.save(tmp_path / "pair")
    back = type(pair).load(tmp_path / "pair")
    assert torch.equal(back.classifier()(xb), pair.classifier()(xb))


def two_sphere_class(mu_a: torch.Tensor, mu_b: torch.Tensor, var: float) -> MFA:
    d = mu_a.numel()
    return MFA().set_params_from(torch.ones(2, dtype=F64) / 2, torch.stack([mu_a, mu_b]).to(F64),
                                 torch.zeros(2, d, 1, dtype=F64), torch.full((2, d), var, dtype=F64))


def polyhedron_distance(x0: torch.Tensor, planes: list[tuple[torch.Tensor, float]]) -> float:
    """Distance from x0 to {x : n.x >= b for all planes}, by enumerating active sets."""
    best = math.inf
    for mask in range(1, 2 ** len(planes)):
        act = [planes[i] for i in range(len(planes)) if mask >> i & 1]
        n = torch.stack([p[0] for p in act])
        b = torch.tensor([p[1] for p in act], dtype=F64)
        lam = torch.linalg.solve(n @ n.T, b - n @ x0)
        x = x0 + n.T @ lam
        if all(float(p[0] @ x) >= p[1] - 1e-9 for p in planes):
            best = min(best, float((x - x0).norm()))
    return best


def test_ldgrad_crosses_every_source_component() -> None:
    """Source class = two spheres a, b; target = one sphere t (equal variances and weights).
    The max-component target region is {closer to t than to a and to b}, a polyhedron;
    crossing only the a-t bisector lands closer to b (the oscillation a single source
    component per step falls into). LD-Grad must reach the exact projection distance."""
    d = 4
    mu_a, mu_b, mu_t = (torch.tensor(v + [0.0] * (d - 2), dtype=F64)
                        for v in ([-2.0, 1.0], [-2.0, -1.0], [0.0, 0.0]))
    src, tgt = two_sphere_class(mu_a, mu_b, 0.01), spherical(mu_t, 0.01)
    x = torch.tensor([[-2.5, 0.3, 0.1, -0.2], [-2.2, -0.4, 0.0, 0.3], [-1.9, 0.05, 0.2, 0.0]],
                     dtype=F64)
    # log pi_t N_t >= log pi_m N_m  <=>  (t - m).x >= (|t|^2 - |m|^2) / 2 + var log(pi_m / pi_t)
    planes = [(mu_t - m, float((mu_t.square().sum() - m.square().sum()) / 2) + 0.01 * math.log(0.5))
              for m in (mu_a, mu_b)]
    expected = torch.tensor([polyhedron_distance(p, planes) for p in x], dtype=F64)
    for mode in ("max_component", "exact"):
        clf = BayesOptimalClassifier(src, tgt, mode=mode)
        res = LDGrad(refine_steps=30)(clf, x, torch.zeros(3, dtype=torch.long))
        assert bool(res.success.all())
        # exact mode: log-sum-exp over the two source components moves the boundary by
        # at most var * log 2 / |t - m| ~ 0.004
        tol = 1e-4 if mode == "max_component" else 1e-2
        assert torch.allclose(res.norms, expected, atol=tol), (mode, res.norms, expected)


def test_nonneg_qp_matches_the_kkt_conditions() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(50, 4, 6, generator=g, dtype=F64)
    q, c = a @ a.transpose(1, 2), torch.randn(50, 4, generator=g, dtype=F64)
    lam = nonneg_qp(q, c, 300)
    grad = (q @ lam[:, :, None]).squeeze(2) - c
    assert bool((lam >= 0).all()) and bool((grad >= -1e-6).all())
    assert float((lam * grad).abs().max()) < 1e-6
