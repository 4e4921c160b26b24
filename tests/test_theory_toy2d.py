"""Theory, Bayes-optimal paper §2: regions, distances to the boundary, Observations 1 and 3."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from advlab.experiments.theory.config import Toy2dConfig
from advlab.experiments.theory.stages import observation1, observation3
from advlab.theory import linear2d
from advlab.theory.boundary import (
    boundary_distance,
    contour_distance,
    gaussian_pair_distance,
    table_distance,
)
from advlab.theory.toy2d import Mixture, asymmetric_elliptical, cell_index, eight_problems

PROBLEMS = eight_problems()


def _direct_log_density(p: Mixture, x: np.ndarray) -> np.ndarray:
    comps = [np.log(w) + multivariate_normal(m, c).logpdf(x) for w, m, c in zip(p.weights, p.means, p.covs, strict=True)]
    return np.asarray(logsumexp(np.stack(comps), axis=0))


@pytest.mark.parametrize("key", list("abcdefgh"))
def test_bayes_regions_match_a_direct_likelihood_comparison(key: str) -> None:
    p = PROBLEMS[key]
    x = np.random.default_rng(0).uniform(-9.9, 9.9, (3000, 2))
    if p.discrete:
        i = cell_index(x)
        l1, l2 = p.p1.p[i[:, 0], i[:, 1]], p.p2.p[i[:, 0], i[:, 1]]  # type: ignore[union-attr]
        direct = np.where(l1 > l2, 1, 2)
    else:
        direct = np.where(_direct_log_density(p.p1, x) > _direct_log_density(p.p2, x), 1, 2)  # type: ignore[arg-type]
    assert (p.decide(x) == direct).mean() > 0.999  # exact but for float ties at the boundary


def test_distance_is_exact_for_a_linear_boundary_and_moving_by_it_flips_the_decision() -> None:
    p = PROBLEMS["a"]  # equal spherical covariances, means (+-4, 0): the boundary is x1 = 0
    x, _ = p.sample(200, np.random.default_rng(1))
    d = boundary_distance(p, x)
    assert np.allclose(d, np.abs(x[:, 0]), atol=1e-9)
    step = -np.sign(x[:, 0])[:, None] * np.array([1.0, 0.0])
    assert (p.decide(x + step * (d[:, None] * 1.001 + 1e-9)) != p.decide(x)).all()


@pytest.mark.parametrize("key", ["b", "e", "f"])
def test_conic_distance_agrees_with_contour_distance(key: str) -> None:
    p = PROBLEMS[key]
    x, _ = p.sample(100, np.random.default_rng(2))
    exact = gaussian_pair_distance(p.p1, p.p2, x)  # type: ignore[arg-type]
    assert np.allclose(exact, contour_distance(p, x, n=801), atol=2e-3)
    # no boundary point closer than the exact distance: dense circle check on a few points
    ang = np.linspace(0, 2 * np.pi, 4000)
    circ = np.stack([np.cos(ang), np.sin(ang)], 1)
    for j in range(5):
        inside = x[j] + 0.999 * exact[j] * circ
        assert (p.decide(inside) == p.decide(x[j:j + 1])[0]).all()


def test_observation1_median_distance_shrinks_with_sigma1() -> None:
    res = observation1(Toy2dConfig(obs1_sigma1=(1.0, 0.3, 0.1, 0.03), obs1_n=300), np.random.default_rng(3))
    assert res["monotone"] is True
    assert res["median_distance"]["0.03"] < 0.1 * res["median_distance"]["1.0"]


def test_observation3_one_level_flips_the_asymmetric_table_only() -> None:
    rng = np.random.default_rng(4)
    asym = observation3(PROBLEMS["g"], *PROBLEMS["g"].sample(300, rng))
    sym = observation3(PROBLEMS["c"], *PROBLEMS["c"].sample(300, rng))
    assert asym["fraction_one_level_from_flip"] > 0.95 and asym["max_marginal_level_probability"] > 0.99
    assert sym["fraction_one_level_from_flip"] < 0.2
    d, levels = table_distance(PROBLEMS["g"], PROBLEMS["g"].p1.sample(50, rng))
    assert np.allclose(d, levels * 0.2)


def test_asymmetric_spherical_points_are_closer_than_symmetric() -> None:
    rng = np.random.default_rng(5)
    near = boundary_distance(asymmetric_elliptical(0.05), asymmetric_elliptical(0.05).p1.sample(200, rng))
    far = boundary_distance(PROBLEMS["a"], PROBLEMS["a"].p1.sample(200, rng))
    assert np.median(near) < 0.2 < 2.0 < np.median(far)


def test_figure14_erm_is_accurate_not_robust_and_robust_training_is_both() -> None:
    clfs, x, y, res = linear2d.figure14_experiment(400, 0.2, torch.Generator().manual_seed(0))
    erm, rob = res["ERM, squared loss (LDA)"], res["robust logistic (L2 eps=0.2)"]
    assert erm["accuracy"] == 1.0 and erm["robust_accuracy"] < 0.05
    assert rob["accuracy"] == 1.0 and rob["robust_accuracy"] == 1.0
    m = clfs["ERM, squared loss (LDA)"].margin(x, y)  # distance to a line, |w^T x + b| / ||w||
    w, b = clfs["ERM, squared loss (LDA)"].w, clfs["ERM, squared loss (LDA)"].b
    assert torch.allclose(m.abs(), (x @ w + b).abs() / w.norm())
