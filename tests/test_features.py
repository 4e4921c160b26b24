"""Features-paper constructions: representation inversion (D_R / D_NR) and relabelling
(D_rand / D_det) on tiny models, checked against closed forms and a simple reference."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from advlab.errors import AdvlabError
from advlab.features import RelabelConfig, choose_targets, relabel, robustify
from advlab.features.relabel import check_classes
from advlab.features.robustify import check_features, image_init_indices, inversion_step, noise_init


class TinyNet(nn.Module):
    """Flatten -> linear(hidden) -> tanh = features (N, hidden) -> linear -> logits."""

    def __init__(self, d: int = 16, hidden: int = 6, k: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.Tanh())
        self.head = nn.Linear(hidden, k)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class NoFeatures(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.flatten(1))


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed))


def _reference_inversion(model: nn.Module, x: torch.Tensor, x0: torch.Tensor,
                         lengths: list[float] | tuple[int, float]
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample loop on the (non-squared) distance d, as written in the paper, keeping
    every iterate; returns (arg-min iterate (N, ...), its distance (N,), its index (N,)).

    ``lengths``: the fixed length of each step, or ``(steps, cap)`` for Polyak's step
    halved, ``min(cap, 0.5 * d / ||grad d||)``, computed from d itself.
    """
    best_x, best_d, best_k = [], [], []
    polyak = isinstance(lengths, tuple)
    steps = lengths[0] if isinstance(lengths, tuple) else len(lengths)
    for xi, x0i in zip(x, x0, strict=True):
        target = model.features(xi[None]).detach()
        z = x0i[None].clone()
        iterates, dists = [], []
        for k in range(steps + 1):
            z.requires_grad_(True)
            d = (model.features(z) - target).norm()
            iterates.append(z.detach())
            dists.append(float(d.detach()))
            if k == steps:
                break
            (g,) = torch.autograd.grad(d, z)
            length = min(lengths[1], 0.5 * float(d.detach()) / float(g.norm())) if isinstance(lengths, tuple) \
                else lengths[k]
            z = (z.detach() - length * g / g.norm()).clamp(0, 1)
        k = min(range(len(dists)), key=dists.__getitem__)  # first arg min
        best_x.append(iterates[k])
        best_d.append(dists[k])
        best_k.append(k)
    assert polyak or steps == len(lengths)
    return torch.cat(best_x), torch.tensor(best_d), torch.tensor(best_k)


def test_robustify_matches_per_sample_reference_on_the_distance() -> None:
    model = TinyNet()
    x, x0 = _images(5, 1), _images(5, 2)
    xr, d = robustify(model, x, torch.zeros(5, dtype=torch.long), x0=x0, steps=7, step_size=0.05)
    ref, ref_d, ref_k = _reference_inversion(model, x, x0, [0.05] * 7)
    torch.testing.assert_close(xr, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(d.absolute, ref_d, atol=1e-5, rtol=1e-5)
    assert torch.equal(d.best_step, ref_k) and torch.equal(d.grad_evals, torch.full((5,), 7))


def test_the_best_iterate_is_returned_when_the_fixed_step_overshoots() -> None:
    """Figure 5's arg min: a fixed step much longer than the distance left oscillates
    around the target; the returned iterate is the closest one seen, not the last."""
    model = TinyNet()
    x = _images(12, 8) * 0.4 + 0.3
    x0 = x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    xr, d = robustify(model, x, torch.zeros(12, dtype=torch.long), x0=x0, steps=6, step_size=0.4)
    ref, ref_d, ref_k = _reference_inversion(model, x, x0, [0.4] * 6)
    assert (ref_k < 6).sum() >= 6  # the case under test: the last iterate is often not the best
    assert torch.equal(d.best_step, ref_k)
    torch.testing.assert_close(xr, ref, atol=1e-5, rtol=1e-5)
    last, target = x0.clone(), model.features(x).detach()
    for _ in range(6):
        last = inversion_step(model, last, target, 0.4)
    with torch.no_grad():
        last_d = (model.features(last) - target).norm(dim=1)
    assert (d.absolute <= last_d + 1e-6).all() and (d.absolute < last_d - 1e-4).any()


def test_polyak_optimizer_matches_a_per_sample_reference() -> None:
    model = TinyNet()
    x, x0 = _images(6, 9), _images(6, 10)
    xr, d = robustify(model, x, torch.zeros(6, dtype=torch.long), x0=x0, steps=10, step_size=0.5,
                      optimizer="polyak", batch_size=4)
    ref, ref_d, ref_k = _reference_inversion(model, x, x0, (10, 0.5))
    torch.testing.assert_close(xr, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(d.absolute, ref_d, atol=1e-5, rtol=1e-4)
    assert torch.equal(d.best_step, ref_k)


class Orthonormal(nn.Module):
    """g(x) = Q x with orthonormal rows (Q Q^T = I): ||grad ||g(x) - g(x*)|| || = 1."""

    def __init__(self, d: int = 16, k: int = 5) -> None:
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(d, k, generator=torch.Generator().manual_seed(0)))
        self.register_buffer("q", q.T.contiguous())  # (k, d)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.q.T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def test_polyak_halves_the_distance_every_step_for_an_orthonormal_linear_map() -> None:
    """Closed form: for g(x) = Q x, f = ||Q(x - x*)|| and ||grad f|| = 1, so a step of
    0.5 f along -grad f leaves f / 2 (no clipping: everything stays inside the box)."""
    model = Orthonormal()
    x = 0.5 + 0.05 * (_images(8, 13) - 0.5)
    x0 = 0.5 + 0.05 * (_images(8, 14) - 0.5)
    with torch.no_grad():
        f0 = (model.features(x0) - model.features(x)).norm(dim=1)
    for steps in (1, 3, 6):
        _, d = robustify(model, x, torch.zeros(8, dtype=torch.long), x0=x0, steps=steps,
                         step_size=10.0, optimizer="polyak")
        torch.testing.assert_close(d.absolute, f0 * 0.5**steps, atol=1e-6, rtol=1e-4)
        assert torch.equal(d.best_step, torch.full((8,), steps))


def test_tolerance_stops_samples_that_reached_it_and_leaves_the_others_unchanged() -> None:
    model = TinyNet()
    x, x0 = _images(20, 11), _images(20, 12)
    y = torch.zeros(20, dtype=torch.long)
    kw = {"x0": x0, "steps": 40, "step_size": 0.3, "optimizer": "polyak", "batch_size": 8}
    xr_all, d_all = robustify(model, x, y, **kw)  # type: ignore[arg-type]
    tol = 2 * float(d_all.relative.median())
    xr, d = robustify(model, x, y, tol=tol, **kw)  # type: ignore[arg-type]
    # stopped at iterate k: the first iterate at tol, after k + 1 gradient evaluations
    stopped = (d.best_step == d.grad_evals - 1) & (d.relative <= tol)
    assert 0 < int(stopped.sum()) < 20 and (d.grad_evals[stopped] < 40).any()
    assert (d.grad_evals[~stopped] == 40).all()
    # a sample's optimisation does not depend on the others: those that go on are unchanged
    # (up to float rounding, which differs with the batch's composition and is amplified
    # near the optimum, where the normalised step's direction is noisy)
    torch.testing.assert_close(xr[~stopped], xr_all[~stopped], atol=1e-3, rtol=0)
    one = {**kw, "batch_size": 1}  # the same per-sample computations: exactly equal
    xr1, d1 = robustify(model, x, y, tol=tol, **one)  # type: ignore[arg-type]
    xr1_all, _ = robustify(model, x, y, **one)  # type: ignore[arg-type]
    on = ~((d1.best_step == d1.grad_evals - 1) & (d1.relative <= tol))
    assert torch.equal(xr1[on], xr1_all[on]) and on.any()
    # those that go on reached tol at their last iterate at best (no step after it)
    assert ((d.relative[~stopped] > tol) | (d.best_step[~stopped] == 40)).all()
    assert int(d.grad_evals.sum()) < int(d_all.grad_evals.sum())


def test_robustify_one_step_moves_exactly_step_size_when_no_clipping() -> None:
    model = TinyNet()
    x = _images(8, 3)
    x0 = torch.full_like(x, 0.5)  # far from the box edges: no clipping in one small step
    xr, _ = robustify(model, x, torch.zeros(8, dtype=torch.long), x0=x0, steps=1, step_size=0.03)
    torch.testing.assert_close(
        (xr - x0).flatten(1).norm(dim=1), torch.full((8,), 0.03), atol=1e-6, rtol=0
    )


def test_robustify_reduces_the_representation_distance_and_stays_in_the_box() -> None:
    model = TinyNet()
    x, x0 = _images(16, 4), _images(16, 5)
    with torch.no_grad():
        before = (model.features(x0) - model.features(x)).norm(dim=1)
        ref_norm = model.features(x).norm(dim=1)
    xr, dist = robustify(model, x, torch.zeros(16, dtype=torch.long), x0=x0, steps=100,
                         step_size=0.02, batch_size=5)
    assert xr.min() >= 0 and xr.max() <= 1
    with torch.no_grad():
        after = (model.features(xr) - model.features(x)).norm(dim=1)
    torch.testing.assert_close(dist.absolute, after, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(dist.relative, after / ref_norm, atol=1e-6, rtol=1e-5)
    assert (after < 0.5 * before).float().mean() > 0.9


def test_robustify_leaves_parameters_and_mode_untouched_and_handles_zero_gradient() -> None:
    model = TinyNet().train()
    x = _images(4)
    xr, dist = robustify(model, x, torch.zeros(4, dtype=torch.long), x0=x.clone(), steps=3,
                         step_size=0.1)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    assert torch.isfinite(xr).all() and torch.allclose(dist.absolute, torch.zeros(4), atol=1e-6)
    assert torch.equal(dist.best_step, torch.zeros(4, dtype=torch.long))  # x0 = x is already best


def test_a_model_without_features_is_refused_naming_the_source() -> None:
    with pytest.raises(AdvlabError, match=r"model: the model \(NoFeatures\) has no features"):
        robustify(NoFeatures(), _images(2), torch.zeros(2, dtype=torch.long), x0=_images(2),
                  steps=1, step_size=0.1)

    class ConvFeatures(NoFeatures):  # torchvision-style: features is a conv trunk, 4-D
        def features(self, x: torch.Tensor) -> torch.Tensor:
            return x

    with pytest.raises(AdvlabError, match=r"features\(x\) returned \(1, 1, 4, 4\)"):
        check_features(ConvFeatures(), _images(1))


def test_robustify_rejects_mismatched_starts_and_bad_hyperparameters() -> None:
    y = torch.zeros(3, dtype=torch.long)
    with pytest.raises(AdvlabError, match=r"x0: got \(2, 1, 4, 4\); expected shape \(3, 1, 4, 4\)"):
        robustify(TinyNet(), _images(3), y, x0=_images(2), steps=1, step_size=0.1)
    bad = [({"step_size": -1}, "step_size: got -1"), ({"step_size": math.inf}, "step_size: got inf"),
           ({"optimizer": "adam"}, "optimizer: got 'adam'; expected one of paper, polyak"),
           ({"tol": -0.1}, "tol: got -0.1"), ({"tol": math.nan}, "tol: got nan")]
    for kw, needle in bad:
        args = {"steps": 1, "step_size": 0.1, **kw}
        with pytest.raises(AdvlabError, match=re.escape(needle)) as e:
            robustify(TinyNet(), _images(3), y, x0=_images(3), **args)  # type: ignore[arg-type]
        assert e.value.param == needle.split(":")[0]


def test_image_starts_are_other_images_uniformly_and_noise_starts_are_in_the_box() -> None:
    gen = torch.Generator().manual_seed(0)
    idx = torch.arange(5).repeat(2000)
    k = image_init_indices(idx, 5, generator=gen)
    assert (k != idx).all() and k.min() >= 0 and k.max() <= 4
    counts = torch.bincount(k[idx == 2], minlength=5).float()  # uniform over {0,1,3,4}
    assert counts[2] == 0 and (counts[[0, 1, 3, 4]] / 2000 - 0.25).abs().max() < 0.05
    z = noise_init((100, 1, 4, 4), std=0.25, generator=gen)
    assert z.min() >= 0 and z.max() <= 1 and abs(float(z.mean()) - 0.5) < 0.02
    with pytest.raises(AdvlabError, match="n: got 1"):
        image_init_indices(torch.zeros(1, dtype=torch.long), 1, generator=gen)


def test_targets_rand_are_uniform_over_all_classes_and_det_is_the_next_class() -> None:
    """Figure 6: t ~ [C] uniformly (so t = y for about 1/C of the points); t = y + 1 mod C."""
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(4).repeat(3000)
    t = choose_targets(y, 4, "rand", generator=gen)
    assert t.min() >= 0 and t.max() < 4
    for c in range(4):
        counts = torch.bincount(t[y == c], minlength=4).float() / 3000
        assert (counts - 1 / 4).abs().max() < 0.03  # the label itself included
    assert abs(float((t == y).float().mean()) - 0.25) < 0.02
    assert torch.equal(choose_targets(y, 4, "det", generator=gen), (y + 1) % 4)


def test_relabel_respects_eps_and_box_and_reached_is_recomputed() -> None:
    model = TinyNet(k=4)
    x, y = _images(20, 6), torch.arange(4).repeat(5)
    cfg = RelabelConfig(eps=0.3, steps=10, step_size=0.1, batch_size=7)
    r = relabel(model, x, y, mode="det", num_classes=4, config=cfg,
                generator=torch.Generator().manual_seed(0))
    assert torch.equal(r.target, (y + 1) % 4)
    assert r.x_adv.min() >= 0 and r.x_adv.max() <= 1
    norms = (r.x_adv - x).flatten(1).norm(dim=1)
    assert norms.max() <= 0.3 + 1e-6
    torch.testing.assert_close(r.delta_norm, norms)
    with torch.no_grad():
        assert torch.equal(r.reached, model(r.x_adv).argmax(1) == r.target)
    assert all(p.grad is None for p in model.parameters())


def test_relabel_reaches_every_target_of_a_linear_model_with_a_large_budget() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x, y = _images(12, 7) * 0.2 + 0.4, torch.arange(3).repeat(4)
    cfg = RelabelConfig(eps=10.0, steps=200, step_size=0.2)
    r = relabel(model, x, y, mode="rand", num_classes=3, config=cfg,
                generator=torch.Generator().manual_seed(1))
    assert (r.target != y).any() and r.reached.all()


def test_relabelling_needs_two_classes() -> None:
    with pytest.raises(AdvlabError, match="single class .*D_det .* at least 2 classes"):
        check_classes(torch.full((10,), 3), 10, "det", "one-class")
    with pytest.raises(AdvlabError, match="labels in \\[0, 5\\] but the source model has 3"):
        check_classes(torch.arange(6), 3, "rand", "six")
