"""Attack objects on tiny models: threat-model guarantees, closed forms, input errors."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from advlab.attacks import CWL2, FMN, PGD, SanityWarning, ThreatModel
from advlab.attacks.losses import margin
from advlab.attacks.threat import norms, random_in_ball
from advlab.errors import AdvlabError

pytestmark = pytest.mark.usefixtures("one_thread")


class TwoLogits(nn.Module):
    """Binary linear classifier f(x) = w.x + b with logits (-f/2, f/2); boundary f = 0."""

    def __init__(self, d: int, seed: int = 1) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.lin = nn.Linear(d, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.lin(x.flatten(1))
        return torch.cat([-f / 2, f / 2], dim=1)

    def distance(self, x: torch.Tensor) -> torch.Tensor:
        """Closed-form L2 distance |w.x + b| / ||w|| to the boundary, (N,)."""
        with torch.no_grad():
            return self.lin(x.flatten(1)).squeeze(1).abs() / self.lin.weight.norm()

    def label(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return (self.lin(x.flatten(1)).squeeze(1) > 0).long()


def _tiny(k: int = 3) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.BatchNorm1d(12), nn.ReLU(),
                         nn.Linear(12, k))


ATTACKS = {
    "pgd-l2": lambda box: PGD(norm="l2", steps=5, box=box),
    "pgd-linf": lambda box: PGD(norm="linf", steps=5, restarts=2, loss="cw", box=box),
    "pgd-l2-raw": lambda box: PGD(norm="l2", steps=5, early_stop=False, box=box),
    "cw": lambda box: CWL2(steps=30, search_steps=2, initial_const=1.0, box=box),
    "fmn": lambda box: FMN(steps=30, box=box),
}


@pytest.mark.parametrize("name", list(ATTACKS))
@pytest.mark.parametrize("box", [(0.0, 1.0), None, "per-sample"])
@pytest.mark.parametrize("targeted", [False, True])
def test_attack_table_respects_threat_model(name: str, box: object, targeted: bool) -> None:
    """Every attack: shape, eps ball, box, success recomputed, mode restored, no param grads."""
    model = _tiny()
    model.train()
    x = torch.rand(12, 1, 4, 4) if box == (0.0, 1.0) else torch.rand(12, 1, 4, 4) * 2 - 0.5
    y = torch.randint(0, 3, (12,))
    target = (y + 1) % 3 if targeted else None
    attack = ATTACKS[name](box)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SanityWarning)
        res = attack(model, x, y, eps=0.5, target=target) if isinstance(attack, PGD) \
            else attack(model, x, y, target=target)
    assert res.x_adv.shape == x.shape and res.success.dtype == torch.bool
    finite = torch.isfinite(res.norms)
    assert torch.allclose(res.norms[finite], norms(res.x_adv - x, res.norm)[finite], atol=1e-6)
    if isinstance(attack, PGD):
        assert (res.norms <= 0.5 + 1e-6).all()
    else:
        assert torch.equal(finite, res.success)
    if box == (0.0, 1.0):
        assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1
    if box == "per-sample":
        assert (res.x_adv >= x.clamp(max=0) - 1e-6).all() and (res.x_adv <= x.clamp(min=1) + 1e-6).all()
    model.eval()
    with torch.no_grad():
        pred = model(res.x_adv).argmax(1)
    model.train()
    assert torch.equal(res.success, pred != y if target is None else pred == target)
    assert model.training and all(p.grad is None for p in model.parameters())
    assert attack.config["box"] == box


def test_pgd_eps_list_gives_monotone_per_eps_results() -> None:
    model, x = _tiny(), torch.rand(40, 1, 4, 4)
    y = torch.randint(0, 3, (40,))
    res = PGD(norm="l2", steps=10)(model, x, y, eps=[0.0, 0.5, 3.0])
    assert set(res.per_eps) == {0.0, 0.5, 3.0} and res.eps == 3.0
    assert torch.equal(res.per_eps[0.0].success, res.clean_success)
    # the balls nest: a point fooled at a smaller eps stays fooled at a larger one
    assert (res.per_eps[0.5].success <= res.per_eps[3.0].success).all()


def test_min_norm_equals_closed_form_distance_on_linear_model() -> None:
    """FMN recovers |w.x + b| / ||w|| within 1% (unbounded box); CW within a few %."""
    model = TwoLogits(20)
    x = torch.randn(300, 1, 4, 5)
    y, dist = model.label(x), model.distance(x)
    res = FMN(steps=100, box=None)(model, x, y)
    assert res.success.all()
    assert ((res.norms - dist).abs() / dist).max() < 0.01
    cw = CWL2(steps=200, search_steps=5, initial_const=1.0, box=None)(model, x[:60], y[:60])
    rel = (cw.norms - dist[:60]) / dist[:60]
    assert cw.success.all() and (rel > -1e-4).all() and rel[dist[:60] > 0.1].max() < 0.03


def test_fmn_from_adversarial_init_reaches_the_boundary() -> None:
    model = TwoLogits(20)
    x = torch.randn(200, 1, 4, 5)
    y, dist = model.label(x), model.distance(x)
    init = x[torch.randperm(200)]
    res = FMN(steps=300, box=None)(model, x, y, init=init)
    usable = model.label(init) != y
    assert res.success[usable].all()
    assert ((res.norms[usable] - dist[usable]) / dist[usable]).abs().max() < 0.01


def test_fmn_box_faces_do_not_stall_before_the_boundary() -> None:
    """Half the pixels sit at 0 and the descent direction pushes them below 0 (blocked by the
    box). The box-constrained minimal norm is |f| / ||w_free||; before the fix FMN stalled
    at radius ||delta|| + |f| / ||w|| (clip-shrunk) and never became adversarial."""
    model = TwoLogits(20)
    with torch.no_grad():
        model.lin.weight[:] = torch.cat([torch.full((10,), 0.5), torch.full((10,), -3.0)])
        model.lin.bias[:] = -3.2
    free = 0.3 + 0.3 * torch.rand(100, 10)
    x = torch.cat([free, torch.zeros(100, 10)], dim=1).view(100, 1, 4, 5)
    y = model.label(x)
    assert (y == 0).all()
    with torch.no_grad():
        expected = model.lin(x.flatten(1)).squeeze(1).abs() / model.lin.weight[0, :10].norm()
    res = FMN(steps=100)(model, x, y)
    assert res.success.all()
    assert ((res.norms - expected) / expected).abs().max() < 0.01


def test_pgd_succeeds_exactly_on_points_within_eps_of_linear_boundary() -> None:
    model = TwoLogits(20)
    x = torch.randn(400, 1, 4, 5)
    y, dist = model.label(x), model.distance(x)
    for norm_name in ("l2",):
        res = PGD(norm=norm_name, steps=20, box=None, random_start=True)(model, x, y, eps=1.0)
        away = (dist - 1.0).abs() > 0.02
        assert torch.equal(res.success[away], (dist < 1.0)[away])


def test_cw_margin_is_correct_with_all_negative_logits_and_edge_pixels_move() -> None:
    logits = torch.tensor([[-5.0, -1.0, -3.0], [-2.0, -9.0, -4.0]])
    assert torch.allclose(margin(logits, torch.tensor([0, 0])), torch.tensor([4.0, -2.0]))
    # a model whose boundary needs the all-zero (edge) pixels to increase
    lin = nn.Linear(16, 1)
    with torch.no_grad():
        lin.weight.fill_(1.0)
        lin.bias.fill_(-0.5)
    model = nn.Sequential(nn.Flatten(), lin, _Pair())
    x = torch.zeros(4, 1, 4, 4)
    res = CWL2(steps=300, search_steps=3, initial_const=1.0)(model, x, torch.zeros(4).long())
    assert res.success.all() and torch.allclose(res.norms, torch.full((4,), 0.125), rtol=0.05)


class _Pair(nn.Module):
    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return torch.cat([-f, f], dim=1)


def test_random_in_ball_is_uniform_in_l2_volume() -> None:
    like = torch.zeros(4000, 1, 2, 2)  # d = 4: P(||delta|| <= r eps) = r^4
    d = norms(random_in_ball(like, "l2", 2.0), "l2")
    assert (d <= 2.0 + 1e-6).all()
    assert abs(float((d <= 1.0).float().mean()) - 1 / 16) < 0.02
    assert norms(random_in_ball(like, "linf", 0.3), "linf").max() <= 0.3


@pytest.mark.parametrize("kwargs,match", [
    ({"eps": -1.0}, "eps"), ({"eps": float("nan")}, "eps"),
])
def test_bad_eps(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(AdvlabError, match=match):
        PGD(norm="l2")(_tiny(), torch.rand(2, 1, 4, 4), torch.tensor([0, 1]), **kwargs)


def test_input_errors_name_the_argument() -> None:
    model, x, y = _tiny(), torch.rand(3, 1, 4, 4), torch.tensor([0, 1, 2])
    with pytest.raises(AdvlabError, match="norm"):
        PGD(norm="l3")
    with pytest.raises(AdvlabError, match="norm"):
        ThreatModel(norm="l1", eps=1.0)
    with pytest.raises(AdvlabError, match="x: .*NaN"):
        PGD()(model, torch.full((3, 1, 4, 4), float("nan")), y, eps=1.0)
    with pytest.raises(AdvlabError, match="y: got 3; .*3 logits"):
        PGD()(model, x, torch.tensor([0, 1, 3]), eps=1.0)
    with pytest.raises(AdvlabError, match="y: .*-1"):
        FMN()(model, x, torch.tensor([0, -1, 2]))
    with pytest.raises(AdvlabError, match="target: equals the true label"):
        CWL2()(model, x, y, target=torch.tensor([1, 1, 0]))
    with pytest.raises(AdvlabError, match="y: "):
        PGD()(model, x, y[:2], eps=1.0)
    with pytest.raises(AdvlabError, match="x: got .values in"):
        PGD()(model, x * 3, y, eps=1.0)
    with pytest.raises(AdvlabError, match="box"):
        PGD(box=(1.0, 0.0))
    with pytest.raises(AdvlabError, match="steps"):
        PGD(steps=-1)


def test_model_returning_probabilities_warns() -> None:
    model = nn.Sequential(_tiny(), nn.Softmax(dim=1))
    x, y = torch.rand(8, 1, 4, 4), torch.randint(0, 3, (8,))
    with pytest.warns(SanityWarning, match="probabilities.*docs/attacks.md#probabilities"):
        PGD(steps=2)(model, x, y, eps=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SanityWarning)
        PGD(steps=2)(_tiny(), x, y, eps=0.5)  # logits: no warning


def test_config_is_stored_unchanged_and_threat_model_projects() -> None:
    att = CWL2(steps=7, lr=0.05)
    assert att.config["steps"] == 7 and att.config["lr"] == 0.05 and "CWL2(" in repr(att)
    tm = ThreatModel(norm="l2", eps=1.0)
    x0 = torch.rand(5, 1, 4, 4)
    xp = tm.project(x0 + 5 * torch.randn_like(x0), x0)
    assert (norms(xp - x0, "l2") <= 1.0 + 1e-6).all() and xp.min() >= 0 and xp.max() <= 1
