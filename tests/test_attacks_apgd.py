"""APGD and APGD-T: the DLR loss, the checkpoint schedule, closed forms on linear models,
verified results, early stop, and errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advlab.attacks import APGD, APGDT
from advlab.attacks.apgd import _ranked_targets, apgd_batch, checkpoints
from advlab.attacks.losses import dlr, objective
from advlab.attacks.threat import norms
from advlab.errors import AdvlabError
from linear_model import LinearK

pytestmark = pytest.mark.usefixtures("one_thread")


def test_checkpoints_follow_the_paper_schedule() -> None:
    """p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06) (x 100 steps)."""
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    for steps in (1, 5, 20, 40, 250):
        marks = checkpoints(steps)
        assert marks[0] == max(int(0.22 * steps), 1) and marks[-1] <= steps
        gaps = [b - a for a, b in zip([0, *marks], marks, strict=False)]
        assert all(g >= max(int(0.06 * steps), 1) for g in gaps[1:])
        assert gaps == sorted(gaps, reverse=True)
    assert checkpoints(0) == []


def test_dlr_matches_its_definition_and_is_scale_invariant() -> None:
    torch.manual_seed(1)
    z = torch.randn(50, 6)
    y = torch.randint(0, 6, (50,))
    t = (y + 1 + torch.randint(0, 5, (50,))) % 6
    s = z.sort(dim=1, descending=True).values
    z_y = z[torch.arange(50), y]
    other = torch.stack([z[i, [j for j in range(6) if j != y[i]]].max() for i in range(50)])
    ref = -(z_y - other) / (s[:, 0] - s[:, 2] + 1e-12)
    ref_t = -(z_y - z[torch.arange(50), t]) / (s[:, 0] - (s[:, 2] + s[:, 3]) / 2 + 1e-12)
    assert torch.allclose(dlr(z, y), ref, atol=1e-6)
    assert torch.allclose(dlr(z, y, t), ref_t, atol=1e-6)
    assert torch.allclose(objective(3.0 * z - 7.0, y, None, "dlr"), ref, atol=1e-5)
    assert torch.allclose(objective(0.5 * z + 2.0, y, t, "dlr"), ref_t, atol=1e-5)
    with pytest.raises(AdvlabError, match="at least 3 classes"):
        dlr(torch.randn(4, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(AdvlabError, match="at least 4 classes"):
        dlr(torch.randn(4, 3), torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long))


def _linear_data(model: LinearK, n: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 1, 4, 4)
    with torch.no_grad():
        y = model(x).argmax(1)
    return x, y


@pytest.mark.parametrize("norm,eps", [("l2", 0.5), ("linf", 0.05)])
def test_apgdt_fools_exactly_the_non_robust_points_of_a_linear_model(norm: str, eps: float) -> None:
    """Linear model, no box: a point is non-robust iff some class j can beat y inside the
    ball (closed form: z_j - z_y + eps ||w_j - w_y||_dual > 0). APGD-T over all targets
    finds exactly those (points within 2% of the threshold excluded)."""
    model = LinearK()
    x, y = _linear_data(model)
    worst = model.worst_margin(x, y, eps, norm)
    scale = model.worst_margin(x, y, 0.0, norm).abs().median()
    res = APGDT(norm=norm, steps=30, n_target_classes=3, box=None)(model, x, y, eps=eps)
    clear = worst.abs() > 0.02 * scale
    assert clear.sum() > 250 and 0.1 < float((worst > 0).float().mean()) < 0.9
    assert torch.equal(res.success[clear], (worst > 0)[clear])


@pytest.mark.parametrize("norm,eps", [("l2", 0.5), ("linf", 0.05)])
def test_apgd_ce_on_a_binary_linear_model_matches_the_distance(norm: str, eps: float) -> None:
    """Two classes: CE ascent is the margin ascent, so APGD-CE fools a point iff its
    distance to the boundary (dual norm of w) is below eps; nothing beyond eps is fooled."""
    model = LinearK(k=2)
    x, y = _linear_data(model)
    worst = model.worst_margin(x, y, eps, norm)
    for start in (False, True):
        res = APGD(norm=norm, steps=20, random_start=start, box=None)(model, x, y, eps=eps)
        assert not res.success[worst < 0].any()
        clear = worst > 0.02 * worst.abs().median()
        assert res.success[clear].all()


def _tiny(k: int = 5) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.BatchNorm1d(12), nn.Tanh(),
                         nn.Linear(12, k))


@pytest.mark.parametrize("cls", [APGD, APGDT])
@pytest.mark.parametrize("norm,eps", [("l2", [0.3, 1.0]), ("linf", [0.03, 0.1])])
def test_results_are_verified_nested_and_leave_the_model_alone(cls: type, norm: str,
                                                               eps: list[float]) -> None:
    model = _tiny()
    model.train()
    x, y = torch.rand(40, 1, 4, 4), torch.randint(0, 5, (40,))
    res = cls(norm=norm, steps=10)(model, x, y, eps=eps)
    for e, r in res.per_eps.items():
        assert (norms(r.x_adv - x, norm) <= e + 1e-6).all()
        assert r.x_adv.min() >= 0 and r.x_adv.max() <= 1
        with torch.no_grad():
            assert torch.equal(r.success, model.eval()(r.x_adv).argmax(1) != y)
        model.train()
    assert (res.per_eps[eps[0]].success <= res.per_eps[eps[1]].success).all()
    assert model.training and all(p.grad is None for p in model.parameters())


def test_early_stop_changes_nothing_but_the_work() -> None:
    """Per-sample state: dropping fooled samples gives the same successes and the same first
    adversarial iterates as running every sample for every step."""
    model = _tiny().eval()
    x, y = torch.rand(60, 1, 4, 4), torch.randint(0, 5, (60,))
    kw = {"norm": "l2", "steps": 15, "random_start": False}
    fast = APGD(early_stop=True, **kw)(model, x, y, eps=0.5)  # type: ignore[arg-type]
    full = APGD(early_stop=False, **kw)(model, x, y, eps=0.5)  # type: ignore[arg-type]
    assert 0 < fast.success.sum() < 60
    assert torch.equal(fast.success, full.success)
    assert torch.allclose(fast.x_adv[fast.success], full.x_adv[full.success], atol=1e-6)


def test_apgd_returns_its_best_point_where_it_fails() -> None:
    """Unfooled samples come back at their highest-loss iterate: the reported objective is
    the objective of the returned point, and no lower than the start's."""
    model = _tiny().eval()
    x, y = torch.rand(30, 1, 4, 4), torch.randint(0, 5, (30,))
    value = lambda z, i: objective(z, y[i], None, "ce")  # noqa: E731
    never = lambda z, i: torch.zeros(len(i), dtype=torch.bool)  # noqa: E731
    xa, succ, best = apgd_batch(model, x, x.clone(), norm="l2", eps=0.5, steps=20, bounds=None,
                                value_fn=value, success_fn=never)
    with torch.no_grad():
        assert torch.allclose(best, value(model(xa), torch.arange(30)), atol=1e-5)
        assert (best >= value(model(x), torch.arange(30)) - 1e-6).all()
    assert not succ.any() and (norms(xa - x, "l2") <= 0.5 + 1e-6).all()


def test_ranked_targets_skip_the_true_class_in_logit_order() -> None:
    model = LinearK(k=5)
    x = torch.randn(20, 1, 4, 4)
    y = torch.randint(0, 5, (20,))
    ranked = _ranked_targets(model, x, y, 9)
    assert len(ranked) == 4
    with torch.no_grad():
        z = model(x)
    stacked = torch.stack(ranked, dim=1)
    assert not (stacked == y[:, None]).any()
    vals = z.gather(1, stacked)
    assert (vals[:, :-1] >= vals[:, 1:]).all()


def test_errors_name_the_argument() -> None:
    model, x, y = _tiny(), torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 2, 3])
    with pytest.raises(AdvlabError, match="steps"):
        APGD(steps=-1)
    with pytest.raises(AdvlabError, match="rho"):
        APGD(rho=1.5)
    with pytest.raises(AdvlabError, match="n_target_classes"):
        APGDT(n_target_classes=0)
    with pytest.raises(AdvlabError, match="target"):
        APGDT(steps=2)(model, x, y, eps=0.1, target=(y + 1) % 5)
    two = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    with pytest.raises(AdvlabError, match="at least 3 classes"):
        APGD(loss="dlr", steps=2)(two, x, torch.tensor([0, 1, 0, 1]), eps=0.1)


def test_ensemble_runs_each_loss_on_what_the_previous_left_robust() -> None:
    """APGD-CE then APGD-DLR: fools at least what APGD-CE alone fools (same seed), verified,
    rebuildable from its config; on a 2-class model the CW margin replaces DLR."""
    from advlab.attacks import APGDEnsemble

    model = _tiny().eval()
    x, y = torch.rand(60, 1, 4, 4), torch.randint(0, 5, (60,))
    ens = APGDEnsemble(norm="linf", steps=10)
    both = ens(model, x, y, eps=[0.05, 0.1])
    alone = APGD(norm="linf", steps=10)(model, x, y, eps=[0.05, 0.1])
    for e in (0.05, 0.1):
        assert (alone.per_eps[e].success <= both.per_eps[e].success).all()
    assert type(ens)(**ens.config).config == ens.config
    two = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    yb = torch.randint(0, 2, (60,))
    res = APGDEnsemble(norm="l2", steps=5)(two, x, yb, eps=0.5)
    assert (norms(res.x_adv - x, "l2") <= 0.5 + 1e-6).all()
    with pytest.raises(AdvlabError, match="losses"):
        APGDEnsemble(losses=())
