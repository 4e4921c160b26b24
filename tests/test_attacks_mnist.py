"""Attacks on the shared mnist5k CNN: peers (torchattacks) and min-norm vs PGD consistency."""

from __future__ import annotations

import pytest
import torch

import advlab
from advlab.attacks import CWL2, FMN, PGD
from advlab.evaluate.minnorm import fraction_within

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def test_points() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = advlab.load_dataset("mnist5k", "test")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return x[idx], y[idx]


@pytest.mark.peers
def test_pgd_l2_robust_accuracy_matches_torchattacks(mnist5k_cnn, test_points) -> None:  # type: ignore[no-untyped-def]
    """Same steps / step size, no random start on both sides: within 0.5 points. Without a
    random start both compute the same iterates, so 300 points (CI time) suffice; the
    benchmark compares 1,000."""
    torchattacks = pytest.importorskip("torchattacks")
    x, y = test_points[0][:300], test_points[1][:300]
    for eps in (1.0, 2.0):
        alpha = 2.5 * eps / 20
        ours = PGD(norm="l2", steps=20, step_size=alpha, random_start=False)(mnist5k_cnn, x, y, eps=eps)
        xa = torchattacks.PGDL2(mnist5k_cnn, eps=eps, alpha=alpha, steps=20, random_start=False)(x, y)
        with torch.no_grad():
            acc_peer = float((mnist5k_cnn(xa).argmax(1) == y).float().mean())
        assert abs((1 - ours.success_rate) - acc_peer) <= 0.005, (eps, ours.success_rate, acc_peer)


@pytest.mark.peers
def test_cw_l2_norms_no_larger_than_torchattacks(mnist5k_cnn, test_points) -> None:  # type: ignore[no-untyped-def]
    """Same budget (c = 1, 100 Adam steps, lr 0.01, one search step): mean L2 on the points
    both fool <= 1.05x torchattacks', and we fool at least as many points."""
    torchattacks = pytest.importorskip("torchattacks")
    x, y = test_points[0][:64], test_points[1][:64]
    ours = CWL2(steps=100, search_steps=1, initial_const=1.0, lr=0.01, abort_early=False)(
        mnist5k_cnn, x, y)
    xa = torchattacks.CW(mnist5k_cnn, c=1.0, kappa=0, steps=100, lr=0.01)(x, y)
    with torch.no_grad():
        peer_ok = mnist5k_cnn(xa).argmax(1) != y
    peer_norm = (xa - x).flatten(1).norm(dim=1)
    both = ours.success & peer_ok & ~ours.clean_success
    assert int(both.sum()) >= 5
    assert float(ours.norms[both].mean()) <= 1.05 * float(peer_norm[both].mean())
    assert int(ours.success.sum()) >= int(peer_ok.sum())


def test_min_norm_fraction_within_eps_matches_pgd_success(mnist5k_cnn, test_points) -> None:  # type: ignore[no-untyped-def]
    """CI size (100 points, FMN-100, PGD-20): the fraction of points whose minimal norm is
    <= eps is within 2 points of PGD's success rate at eps 0.5 and 1.0."""
    x, y = test_points[0][:100], test_points[1][:100]
    mn = FMN(steps=100)(mnist5k_cnn, x, y)
    pgd = PGD(norm="l2", steps=20)(mnist5k_cnn, x, y, eps=[0.5, 1.0])
    for eps, res in pgd.per_eps.items():
        assert abs(fraction_within(mn, eps) - res.success_rate) <= 0.02 + 1e-6, eps


@pytest.mark.slow
def test_min_norm_fraction_within_eps_matches_strong_pgd_success(mnist5k_cnn, test_points) -> None:  # type: ignore[no-untyped-def]
    """200 points, FMN-200 vs a strong PGD (100 steps, step 5*eps/100, 3 random restarts) at
    eps 0.5, 1.0 and 1.5. PGD-20 (step 2.5*eps/20) is short of convergence at eps >= 1.5
    (docs/attacks.md#more-steps); at eps 2 the strong PGD fools ~2.5 points more than
    FMN-200 (docs/attacks.md, measured), so eps 2 is not asserted."""
    x, y = test_points[0][:200], test_points[1][:200]
    mn = FMN(steps=200)(mnist5k_cnn, x, y)
    pgd = PGD(norm="l2", steps=100, rel_step=5.0, restarts=3)(mnist5k_cnn, x, y,
                                                              eps=[0.5, 1.0, 1.5])
    for eps, res in pgd.per_eps.items():
        assert abs(fraction_within(mn, eps) - res.success_rate) <= 0.02 + 1e-6, eps
