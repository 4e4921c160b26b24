"""pgd_perturb: the raw PGD loop (norm bounds, box, mode, gradients, closed forms)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advlab.attacks import pgd_perturb
from advlab.attacks.threat import norms
from advlab.errors import AdvlabError


def _tiny(k: int = 3) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.BatchNorm1d(8), nn.ReLU(),
                         nn.Linear(8, k))


@pytest.mark.parametrize("norm,eps", [("l2", 0.5), ("linf", 0.1)])
@pytest.mark.parametrize("target_on", [False, True])
def test_pgd_perturb_respects_ball_box_mode_and_grads(norm: str, eps: float,
                                                      target_on: bool) -> None:
    model = _tiny()
    model.train()
    x = torch.rand(10, 1, 4, 4)
    y = torch.randint(0, 3, (10,))
    target = (y + 1) % 3 if target_on else None
    x_adv = pgd_perturb(model, x, y, norm=norm, eps=eps, steps=5, step_size=eps / 2,
                        target=target)
    assert x_adv.shape == x.shape
    assert (norms(x_adv - x, norm) <= eps + 1e-6).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert model.training and model[2].training
    assert all(p.grad is None for p in model.parameters())


def test_pgd_perturb_linear_binary_succeeds_exactly_within_eps() -> None:
    torch.manual_seed(1)
    lin = nn.Linear(20, 1)
    model = nn.Sequential(nn.Flatten(), _TwoLogits(lin))
    x = torch.randn(400, 1, 4, 5)
    with torch.no_grad():
        dist = lin(x.flatten(1)).squeeze(1).abs() / lin.weight.norm()
        y = (lin(x.flatten(1)).squeeze(1) > 0).long()
    eps = 1.0
    x_adv = pgd_perturb(model, x, y, norm="l2", eps=eps, steps=20, step_size=0.25,
                        box=None, random_start=False)
    with torch.no_grad():
        fooled = model(x_adv).argmax(1) != y
    away = (dist - eps).abs() > 0.02
    assert away.sum() > 300
    assert torch.equal(fooled[away], (dist < eps)[away])


class _TwoLogits(nn.Module):
    """Binary linear classifier with logits (-f/2, f/2)."""

    def __init__(self, lin: nn.Linear) -> None:
        super().__init__()
        self.lin = lin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.lin(x)
        return torch.cat([-f / 2, f / 2], dim=1)


def test_pgd_perturb_rejects_bad_arguments() -> None:
    model, x, y = _tiny(), torch.rand(2, 1, 4, 4), torch.tensor([0, 1])
    with pytest.raises(AdvlabError, match="eps"):
        pgd_perturb(model, x, y, norm="l2", eps=-1.0, steps=1, step_size=0.1)
    with pytest.raises(AdvlabError, match="norm"):
        pgd_perturb(model, x, y, norm="l1", eps=1.0, steps=1, step_size=0.1)
    with pytest.raises(AdvlabError, match="loss"):
        pgd_perturb(model, x, y, norm="l2", eps=1.0, steps=1, step_size=0.1, loss="x")


def test_pgd_perturb_per_sample_box_and_unbounded() -> None:
    model = _tiny()
    x = torch.rand(6, 1, 4, 4) * 3 - 1  # leaves [0, 1]
    y = torch.randint(0, 3, (6,))
    x_adv = pgd_perturb(model, x, y, norm="linf", eps=0.2, steps=3, step_size=0.1,
                        box="per-sample")
    assert (x_adv >= x.clamp(max=0) - 1e-7).all() and (x_adv <= x.clamp(min=1) + 1e-7).all()
    x_free = pgd_perturb(model, x, y, norm="linf", eps=0.2, steps=3, step_size=0.1, box=None)
    assert (norms(x_free - x, "linf") <= 0.2 + 1e-6).all()
