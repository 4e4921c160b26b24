"""MFA estimator: dense-reference likelihoods, EM monotonicity, recovery, I/O, errors."""

from __future__ import annotations

import pytest
import torch

from advlab.bayes import MFA
from advlab.bayes.lowrank import dense_covariances
from advlab.errors import AdvlabError

F64 = torch.float64


def known_mfa(k: int = 3, d: int = 12, n_f: int = 2, seed: int = 0, spread: float = 4.0) -> MFA:
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(k, generator=g, dtype=F64) + 0.5
    mu = torch.randn(k, d, generator=g, dtype=F64) * spread
    a = torch.randn(k, d, n_f, generator=g, dtype=F64)
    noise = torch.rand(k, d, generator=g, dtype=F64) * 0.3 + 0.05
    return MFA().set_params_from(w, mu, a, noise)


def dense_joint(m: MFA, x: torch.Tensor) -> torch.Tensor:
    """log pi_k + log N_k(x) with full (d, d) covariances, float64: (N, K)."""
    cov = dense_covariances(m.factors_, m.noise_)
    cols = [torch.distributions.MultivariateNormal(m.means_[k], cov[k]).log_prob(x.to(F64))
            for k in range(m.means_.shape[0])]
    return torch.stack(cols, 1) + m.weights_.log()


@pytest.mark.parametrize("d,n_f", [(5, 1), (20, 3), (50, 6)])
def test_loglik_and_responsibilities_match_dense_reference(d: int, n_f: int) -> None:
    m = known_mfa(4, d, n_f, seed=d)
    x = torch.randn(300, d, dtype=F64) * 3
    ref = dense_joint(m, x)
    ours = m.component_log_likelihoods(x)
    assert torch.allclose(ours, ref, rtol=1e-4, atol=0)
    assert torch.allclose(m.score_samples(x), torch.logsumexp(ref, 1), rtol=1e-4, atol=0)
    assert torch.allclose(m.predict_proba(x), torch.softmax(ref, 1), atol=1e-6)


def test_tiny_noise_float32_still_matches_reference() -> None:
    """D = 1e-6 (symmetric synthetic models): the completed-square form keeps precision."""
    m = known_mfa(2, 30, 3)
    m.noise_ = torch.full_like(m.noise_, 1e-6)
    x, _ = m.sample(50, random_state=1)
    ref = dense_joint(m, x)
    m32 = MFA(dtype="float32").set_params_from(m.weights_, m.means_, m.factors_, m.noise_)
    assert torch.allclose(m32.component_log_likelihoods(x.float()).double(), ref, rtol=1e-3)
    assert torch.allclose(m.component_log_likelihoods(x), ref, rtol=1e-8)  # float64 fast path


def test_em_never_lowers_training_loglik() -> None:
    x, _ = known_mfa(3, 10, 2, spread=1.5).sample(3000, random_state=0)
    m = MFA(3, 2, max_iter=40, tol=0, random_state=1).fit(x)
    h = torch.tensor(m.ll_history_)
    assert m.n_iter_ == 40
    assert bool((h[1:] - h[:-1] >= -1e-9 * h.abs()[1:]).all()), h
    assert h[-1] > h[0]


def test_recovers_known_mfa_up_to_rotation() -> None:
    true = known_mfa(3, 10, 2)
    x, _ = true.sample(30000, random_state=2)
    m = MFA(3, 2, max_iter=300, tol=1e-7, random_state=0).fit(x)
    order = torch.cdist(true.means_, m.means_).argmin(1)
    assert sorted(order.tolist()) == [0, 1, 2]
    assert torch.allclose(m.means_[order], true.means_, atol=0.05)
    assert torch.allclose(m.weights_[order], true.weights_, atol=0.02)
    c_true = dense_covariances(true.factors_, true.noise_)
    c_fit = dense_covariances(m.factors_, m.noise_)[order]
    rel = (c_fit - c_true).flatten(1).norm(dim=1) / c_true.flatten(1).norm(dim=1)
    assert float(rel.max()) < 0.05


def test_batched_sources_give_the_same_fit() -> None:
    x, _ = known_mfa(2, 8, 1).sample(600, random_state=0)
    kw = dict(max_iter=5, random_state=3)
    a = MFA(2, 1, **kw).fit(x)
    batches = list(x.split(128))
    b = MFA(2, 1, batch_size=128, **kw).fit(batches)
    c = MFA(2, 1, **kw).fit(lambda: iter([(xb, None) for xb in batches]))
    for other in (b, c):
        assert torch.allclose(other.means_, a.means_, atol=1e-8)
        assert torch.allclose(other.noise_, a.noise_, atol=1e-8)
    with pytest.raises(AdvlabError, match="x: "):
        MFA(2, 1).fit(iter(batches))


def test_sample_moments_and_image_shapes() -> None:
    m = known_mfa(1, 6, 2)
    x, comp = m.sample(40000, random_state=5)
    assert x.shape == (40000, 6) and comp.shape == (40000,)
    cov = torch.cov(x.T)
    assert torch.allclose(x.mean(0), m.means_[0], atol=0.05)
    assert torch.allclose(cov, dense_covariances(m.factors_, m.noise_)[0], atol=0.1)
    imgs = torch.rand(40, 1, 2, 3)
    fitted = MFA(2, 1, max_iter=3, random_state=0).fit(imgs)
    s, _ = fitted.sample(5, random_state=0)
    assert s.shape == (5, 1, 2, 3) and fitted.score_samples(imgs).shape == (40,)


def test_constant_pixels_are_floored_not_fatal() -> None:
    x = torch.rand(200, 6, dtype=F64)
    x[:, 0] = 0.0
    m = MFA(2, 1, reg_covar=1e-4, max_iter=5, random_state=0).fit(x)
    assert torch.allclose(m.noise_[:, 0], torch.full((2,), 1e-4, dtype=F64))
    assert bool(torch.isfinite(m.score_samples(x)).all())


def test_save_load_roundtrip_and_corruption(tmp_path) -> None:
    m = MFA(2, 1, max_iter=3, random_state=0).fit(torch.rand(100, 1, 2, 2))
    m.save(tmp_path / "m")
    back = MFA.load(tmp_path / "m")
    x = torch.rand(7, 1, 2, 2)
    assert torch.equal(back.score_samples(x), m.score_samples(x))
    assert back.input_shape_ == (1, 2, 2) and back.ll_history_ == m.ll_history_
    f = tmp_path / "m" / "mfa.safetensors"
    f.write_bytes(f.read_bytes()[:-1] + b"\0")
    with pytest.raises(AdvlabError, match="sha256"):
        MFA.load(tmp_path / "m")


@pytest.mark.parametrize("x,kw,match", [
    (torch.tensor([[0.0, float("nan")], [1.0, 1.0]]), {}, "NaN"),
    (torch.rand(3, 4), {"n_components": 5}, "n_components"),
    (torch.rand(50, 4), {"n_factors": 4}, "n_factors"),
    (torch.rand(50, 4), {"reg_covar": 0.0}, "reg_covar"),
    (torch.rand(50, 4), {"init": "random"}, "init"),
])
def test_degenerate_input_errors(x: torch.Tensor, kw: dict, match: str) -> None:
    params = {"n_components": 1, "n_factors": 1, **kw}
    with pytest.raises(AdvlabError, match=match):
        MFA(**params).fit(x)


def test_too_small_cluster_names_n_components() -> None:
    x = torch.cat([torch.randn(100, 10), torch.randn(2, 10) + 50])
    with pytest.raises(AdvlabError, match=r"n_components: got 2; .*fewer than n_factors \+ 1"):
        MFA(2, 4, random_state=0).fit(x)


def test_unfitted_methods_raise() -> None:
    with pytest.raises(AdvlabError, match="not fitted"):
        MFA().score_samples(torch.rand(2, 3))
