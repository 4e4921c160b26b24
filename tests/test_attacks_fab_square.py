"""FAB-T and Square: the box-constrained hyperplane projection against a dense solver and
torchattacks, closed forms on linear models, the Square schedule and pattern, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linprog, minimize
from torch import nn

from advlab.attacks import FABT, Square
from advlab.attacks.fab import project_hyperplane
from advlab.attacks.square import eta, p_selection
from advlab.attacks.threat import norms
from advlab.errors import AdvlabError
from linear_model import LinearK

pytestmark = pytest.mark.usefixtures("one_thread")


def _dense_projection(w: np.ndarray, r: float, lo: np.ndarray, hi: np.ndarray,
                      norm: str) -> np.ndarray:
    """min ||d|| s.t. w.d = r, lo <= d <= hi, by scipy (LP for Linf, SLSQP for L2)."""
    d = len(w)
    if norm == "linf":  # variables (d, t): minimise t
        a_ub = np.block([[np.eye(d), -np.ones((d, 1))], [-np.eye(d), -np.ones((d, 1))]])
        res = linprog(np.r_[np.zeros(d), 1.0], A_ub=a_ub, b_ub=np.zeros(2 * d),
                      A_eq=np.r_[w, 0.0][None], b_eq=[r],
                      bounds=[*zip(lo, hi, strict=True), (0, None)])
        return res.x[:d]
    res = minimize(lambda v: v @ v, np.zeros(d), jac=lambda v: 2 * v, method="SLSQP",
                   constraints=[{"type": "eq", "fun": lambda v: w @ v - r, "jac": lambda v: w}],
                   bounds=list(zip(lo, hi, strict=True)), options={"ftol": 1e-14, "maxiter": 500})
    return res.x


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_projection_matches_a_dense_solver(norm: str) -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.uniform(0, 1, 8)
        w = rng.normal(size=8) * (rng.uniform(size=8) > 0.2)
        r = float(rng.normal() * 0.7)
        t = lambda a: torch.tensor(a, dtype=torch.float64)[None]  # noqa: E731
        d = project_hyperplane(t(w), t([r])[0], t(-p), t(1 - p), norm)[0].numpy()
        assert (d >= -p - 1e-12).all() and (d <= 1 - p + 1e-12).all()
        room = np.where(np.sign(w) == np.sign(r), 1 - p, p)  # how far each pixel can help
        reach = np.abs(w) @ room
        if abs(r) < reach - 1e-9:  # reachable: exactly on the plane, as short as the optimum
            assert abs(w @ d - r) < 1e-9
            ref = _dense_projection(w, r, -p, 1 - p, norm)
            size = np.linalg.norm if norm == "l2" else (lambda v: np.abs(v).max())
            assert size(d) <= size(ref) + 1e-6
        else:  # out of reach: every pixel pushed to the face that helps
            assert w @ d == pytest.approx(np.sign(r) * reach)


def test_projection_out_of_reach_gets_as_close_as_the_box_allows() -> None:
    w = torch.tensor([[1.0, -2.0, 0.0]])
    p = torch.tensor([[0.5, 0.5, 0.5]])
    for norm in ("l2", "linf"):
        d = project_hyperplane(w, torch.tensor([10.0]), -p, 1 - p, norm)
        assert torch.allclose(d, torch.tensor([[0.5, -0.5, 0.0]]))


@pytest.mark.peers
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_projection_equals_torchattacks_fab(norm: str) -> None:
    fab = pytest.importorskip("torchattacks.attacks.fab")
    torch.manual_seed(0)
    p = torch.rand(200, 30, dtype=torch.float64)
    w = torch.randn(200, 30, dtype=torch.float64) * (torch.rand(200, 30) > 0.2)
    b = (w * p).sum(1) + torch.randn(200, dtype=torch.float64) * 2
    ref = (fab.projection_l2 if norm == "l2" else fab.projection_linf)(p, w, b)
    ours = project_hyperplane(w, b - (w * p).sum(1), -p, 1 - p, norm)
    assert torch.allclose(ours, ref, atol=1e-9)


def _linear_points(model: LinearK, n: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 1, 4, 4)
    with torch.no_grad():
        return x, model(x).argmax(1)


@pytest.mark.parametrize("norm,eps", [("l2", 0.5), ("linf", 0.05)])
def test_fab_t_fools_every_point_within_eps_of_a_linear_boundary(norm: str, eps: float) -> None:
    """Linear model, no box: the linearisation is exact, so FAB-T over all targets reaches
    each point's nearest boundary; points nearer than 0.98 eps are fooled, none beyond eps."""
    model = LinearK()
    x, y = _linear_points(model)
    dist = model.distance(x, y, norm)
    res = FABT(norm=norm, steps=30, n_target_classes=3, box=None)(model, x, y, eps=eps)
    assert 0.1 < float((dist < eps).float().mean()) < 0.9
    assert res.success[dist < 0.98 * eps].all() and not res.success[dist > eps].any()


@pytest.mark.parametrize("norm,eps,inside", [("l2", 0.5, 0.3), ("linf", 0.05, 0.5)])
def test_square_fools_points_well_inside_eps_of_a_linear_boundary(norm: str, eps: float,
                                                                   inside: float) -> None:
    """8x8 images, no box, 300 queries: every point nearer than ``inside * eps`` to a linear
    boundary is fooled (random search in 64 dimensions: L2 needs the larger margin)."""
    model = LinearK(d=64)
    x = torch.randn(200, 1, 8, 8)
    with torch.no_grad():
        y = model(x).argmax(1)
    dist = model.distance(x, y, norm)
    res = Square(norm=norm, n_queries=300, box=None)(model, x, y, eps=eps)
    assert int((dist < inside * eps).sum()) > 20
    assert res.success[dist < inside * eps].all() and not res.success[dist > eps].any()


@pytest.mark.parametrize("cls", [FABT, Square])
@pytest.mark.parametrize("norm,eps", [("l2", 0.5), ("linf", 0.05)])
def test_results_are_verified_in_the_box(cls: type, norm: str, eps: float) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 5)).eval()
    x = torch.rand(20, 1, 6, 6)
    y = torch.randint(0, 5, (20,))
    kw = {"steps": 20} if cls is FABT else {"n_queries": 200}
    res = cls(norm=norm, **kw)(model, x, y, eps=[eps / 2, eps])
    for e, r in res.per_eps.items():
        assert (norms(r.x_adv - x, norm) <= e + 1e-6).all()
        assert r.x_adv.min() >= 0 and r.x_adv.max() <= 1
        with torch.no_grad():
            assert torch.equal(r.success, model(r.x_adv).argmax(1) != y)


def test_square_schedule_and_pattern() -> None:
    assert p_selection(0.8, 0, 5000) == 0.8
    assert p_selection(0.8, 5, 5000) == 0.8  # query 10 of 10,000: still p_init
    assert p_selection(0.8, 6, 5000) == pytest.approx(0.4)  # query 12: halved
    assert p_selection(0.8, 2500, 5000) == pytest.approx(0.8 / 128)  # query 5,000 of 10,000
    assert p_selection(0.8, 4999, 5000) == pytest.approx(0.8 / 512)
    assert p_selection(0.8, 9999, 10000) == pytest.approx(0.8 / 512)
    for s in (3, 5, 8):
        pattern = eta(s)
        assert pattern.shape == (s, s) and float(pattern.norm()) == pytest.approx(1.0)
        assert (pattern[:s // 2] > 0).all() and (pattern[s // 2:] < 0).all()


def test_errors_name_the_argument() -> None:
    model, x, y = LinearK(), torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 2, 3])
    with pytest.raises(AdvlabError, match="n_queries"):
        Square(n_queries=0)
    with pytest.raises(AdvlabError, match="p_init"):
        Square(p_init=0.0)
    with pytest.raises(AdvlabError, match="n_target_classes"):
        FABT(n_target_classes=0)
    with pytest.raises(AdvlabError, match="target"):
        FABT(steps=2)(model, x, y, eps=0.1, target=(y + 1) % 4)
    with pytest.raises(AdvlabError, match="target"):
        Square(n_queries=2)(model, x, y, eps=0.1, target=(y + 1) % 4)


def test_fab_t_smallest_norm_decides_every_larger_eps() -> None:
    """FAB-T starts at the clean point: a point it does not fool at eps a ran every target to
    the end, and a run at a larger eps b fools it exactly when the smallest adversarial norm
    of the first run is <= b (what advlab.evaluate.autoattack reuses across eps)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 4))
    x = torch.rand(40, 1, 6, 6, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        y = model(x).argmax(1)
    fab = FABT(norm="l2", steps=30, n_target_classes=3)
    done = torch.zeros(40, dtype=torch.bool)
    _, smallest, x_small = fab.search(model, x, y, 0.2, done)
    big = fab(model, x, y, eps=0.3)
    rest = ~done
    assert torch.equal(done, smallest <= 0.2) and rest.sum() >= 10
    assert 3 <= int((big.success & rest).sum()) < int(rest.sum())
    assert torch.equal(big.success[rest], (smallest <= 0.3)[rest])
    found = torch.isfinite(smallest)
    with torch.no_grad():
        assert (model(x_small[found]).argmax(1) != y[found]).all()
    dist = (x_small - x).flatten(1).norm(dim=1)
    assert torch.allclose(dist[found], smallest[found], atol=1e-5)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_untargeted_fab_picks_the_closest_linear_boundary(norm: str) -> None:
    """On a linear model the boundary to class j is exactly g_j = z_j - z_y with gradient
    w_j - w_y; untargeted FAB's choice must be the j != y of smallest |g_j| / ||w_j - w_y||_*
    (dual norm), computed here densely, class by class."""
    from advlab.attacks.fab import _closest_boundary

    model = LinearK()
    x, y = _linear_points(model, 50)
    g, grad = _closest_boundary(model, x, y, norm)
    w = model.lin.weight.detach()  # (K, D)
    with torch.no_grad():
        z = model(x)
    for i in range(len(x)):
        ratios = []
        for j in range(w.shape[0]):
            d = w[j] - w[y[i]]
            dual = d.norm() if norm == "l2" else d.abs().sum()
            ratios.append(float("inf") if j == y[i] else float((z[i, j] - z[i, y[i]]).abs() / dual))
        j = int(np.argmin(ratios))
        assert torch.allclose(g[i], z[i, j] - z[i, y[i]], atol=1e-5)
        assert torch.allclose(grad[i].flatten(), w[j] - w[y[i]], atol=1e-5)


@pytest.mark.parametrize("norm,eps", [("l2", 0.5), ("linf", 0.05)])
def test_untargeted_fab_fools_every_point_within_eps_of_a_linear_boundary(norm: str,
                                                                          eps: float) -> None:
    """As for FAB-T: with an exact linearisation, untargeted FAB steps to the nearest
    boundary over all classes at once; points nearer than 0.98 eps are fooled, none beyond."""
    from advlab.attacks import FAB

    model = LinearK()
    x, y = _linear_points(model)
    dist = model.distance(x, y, norm)
    res = FAB(norm=norm, steps=30, box=None)(model, x, y, eps=eps)
    assert 0.1 < float((dist < eps).float().mean()) < 0.9
    assert res.success[dist < 0.98 * eps].all() and not res.success[dist > eps].any()
    fab = FAB(norm=norm, restarts=5)
    assert "n_target_classes" not in fab.config and FAB(**fab.config).config == fab.config
