"""Representation inversion: the robust / non-robust datasets D_R and D_NR (Ilyas et al. §3.1).

For each training pair (x, y), start from an input x0 drawn independently of y (another
training image, or noise: Appendix D.1) and minimise ``||g(x_r) - g(x)||_2`` over x_r in
[0, 1]^d, where g is the source model's penultimate representation (``model.features``).
The steps are normalised L2 gradient steps (Appendix C.4, Table 5: CIFAR-10 1000 steps of
size 0.1; Restricted ImageNet 2000 steps of size 1; 10,000 steps from noise, footnote 16),
with clipping to [0, 1] after every step. The pair (x_r, y) keeps the label of x.

A robust (adversarially trained) source gives D_R; a standard one gives D_NR: the
algorithm is the same, only the source model differs.

Cost: exactly one forward and one backward to the input per step (g(x) is computed once
per batch; the final distance costs one extra gradient-free forward per batch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import nn

from advlab.errors import AdvlabError, bad_argument

Init = Literal["image", "noise"]

# Appendix C.4, Table 5 (and footnote 16 for the noise start).
TABLE5: dict[str, dict[str, float]] = {
    "cifar10": {"steps": 1000, "step_size": 0.1, "noise_steps": 10_000},
    "restricted-imagenet": {"steps": 2000, "step_size": 1.0, "noise_steps": 20_000},
}


@dataclass(frozen=True)
class RobustifyConfig:
    """Hyper-parameters of the representation inversion (Table 5).

    Attributes:
        steps: normalised gradient steps per sample.
        step_size: L2 length of every step, in pixel units.
        init: ``"image"`` (x0 = another image of the same split, drawn uniformly and
            independently of the label) or ``"noise"`` (x0 = clip(0.5 + noise_std * N(0, I))).
        noise_std: standard deviation of the Gaussian start (``init="noise"`` only).
        batch_size: images optimised together (does not change the maths: every sample
            has its own normalised step).
    """

    steps: int = 1000
    step_size: float = 0.1
    init: Init = "image"
    noise_std: float = 0.25
    batch_size: int = 256

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 0:
            raise bad_argument("--steps", self.steps, "an integer >= 0")
        if not self.step_size > 0:
            raise bad_argument("--step-size", self.step_size, "a number > 0")
        if self.init not in ("image", "noise"):
            raise bad_argument("--init", self.init, "'image' or 'noise'")
        if not self.noise_std > 0:
            raise bad_argument("noise_std", self.noise_std, "a number > 0")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise bad_argument("--batch-size", self.batch_size, "an integer >= 1")


class RepDistance(NamedTuple):
    """Per-sample distance in representation space after the optimisation.

    Attributes:
        absolute: ``||g(x_r) - g(x)||_2``, shape (N,).
        relative: ``||g(x_r) - g(x)||_2 / ||g(x)||_2``, shape (N,) (inf where g(x) = 0).
    """

    absolute: torch.Tensor
    relative: torch.Tensor


def check_features(model: nn.Module, x: torch.Tensor, name: str = "--source") -> int:
    """Check that ``_features(model, x)`` returns a (N, D) representation; return D.

    Raises:
        AdvlabError: naming ``name`` and the model class when ``features`` is missing or
            does not return a 2-D tensor (torchvision's ``features`` sub-networks do not).
    """
    cls = type(model).__name__
    feats = getattr(model, "features", None)
    if not callable(feats):
        raise AdvlabError(
            f"{name}: model {cls} has no features(x) method (the penultimate representation); "
            "dataset construction needs an advlab model that exposes one"
        )
    with torch.no_grad():
        out = feats(x[:1])
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 1:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise AdvlabError(
            f"{name}: model {cls}.features(x) returned {shape} for one image; expected (1, D), "
            "the input of the last linear layer"
        )
    return int(out.shape[1])


def noise_init(
    shape: tuple[int, ...], *, std: float, generator: torch.Generator
) -> torch.Tensor:
    """Gaussian start ``clip(0.5 + std * N(0, I), 0, 1)`` of the given (N, C, H, W) shape."""
    z = torch.randn(shape, generator=generator, dtype=torch.float32)
    return (0.5 + std * z).clamp_(0.0, 1.0)


def image_init_indices(
    index: torch.Tensor, pool_size: int, *, generator: torch.Generator
) -> torch.Tensor:
    """For each sample index j, a uniformly drawn *other* index of the pool (label-blind).

    Args:
        index: indices into the pool of the samples to construct, shape (N,).
        pool_size: number of images available as starts (>= 2).

    Returns:
        int64 indices k != j, shape (N,), uniform over the pool minus j.
    """
    if pool_size < 2:
        raise bad_argument("--n", pool_size, "at least 2 images for init='image'", "or use --init noise")
    k = torch.randint(0, pool_size - 1, index.shape, generator=generator)
    return k + (k >= index).to(torch.int64)


def _features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """g(x): the source model's penultimate representation, (N, C, H, W) -> (N, D)."""
    out: torch.Tensor = model.features(x)  # type: ignore[operator]
    return out


def inversion_step(
    model: nn.Module, xr: torch.Tensor, target: torch.Tensor, step_size: float
) -> torch.Tensor:
    """One normalised gradient step on ``||g(x_r) - g(x)||^2``, then clip to [0, 1].

    Args:
        xr: current iterate (N, C, H, W); target: g(x), shape (N, D).

    Returns:
        The next iterate (N, C, H, W), detached. Cost: one features forward and one
        backward to the input; parameter gradients are not computed into ``.grad``.
    """
    xr = xr.detach().requires_grad_(True)
    # Squared distance: its per-sample gradient points the same way as the distance's,
    # and the step is normalised, so this is the paper's update without sqrt at 0.
    loss = (_features(model, xr) - target).pow(2).sum()
    (grad,) = torch.autograd.grad(loss, xr)
    norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view((-1,) + (1,) * (xr.ndim - 1))
    with torch.no_grad():
        return xr.detach().sub_(grad.mul_(step_size / norm)).clamp_(0.0, 1.0)


def _invert_batch(
    model: nn.Module, x: torch.Tensor, x0: torch.Tensor, steps: int, step_size: float
) -> tuple[torch.Tensor, RepDistance]:
    """Normalised-gradient descent on ``||g(x_r) - g(x)||^2`` for one batch (N, C, H, W)."""
    with torch.no_grad():
        target = _features(model, x)  # (N, D), computed once
    xr = x0.detach().clone()
    for _ in range(steps):
        xr = inversion_step(model, xr, target, step_size)
    with torch.no_grad():
        dist = (_features(model, xr) - target).norm(dim=1)
        ref = target.norm(dim=1)
        rel = torch.where(ref > 0, dist / ref.clamp_min(1e-30), torch.full_like(dist, float("inf")))
    return xr.detach(), RepDistance(dist, rel)


def robustify(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    x0: torch.Tensor,
    steps: int,
    step_size: float,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, RepDistance]:
    """Invert the source model's representation of x, starting from x0 (Figure 5).

    Args:
        model: source classifier with ``features(x) -> (N, D)``; put in eval mode during
            the call (its mode is restored) and its parameter gradients are not touched.
        x: target images in [0, 1], shape (N, C, H, W).
        y: labels, shape (N,); kept unchanged by the construction (checked for shape only).
        x0: starting images in [0, 1], shape (N, C, H, W), drawn independently of y.
        steps: normalised gradient steps; step_size: their L2 length.
        batch_size: images per forward/backward.
        device: where to compute (default: the model's device); results come back on x's device.
        progress: called with the number of images finished after each batch.

    Returns:
        ``(x_r, rep_dist)``: x_r float32 in [0, 1], shape (N, C, H, W); rep_dist the
        per-sample absolute and relative representation distances at x_r.
    """
    if x.shape != x0.shape:
        raise AdvlabError(f"x0: expected shape {tuple(x.shape)} to match x; got {tuple(x0.shape)}")
    if y.shape != (x.shape[0],):
        raise AdvlabError(f"y: expected shape ({x.shape[0]},); got {tuple(y.shape)}")
    RobustifyConfig(steps=steps, step_size=step_size, batch_size=batch_size)  # validates
    if device is None:
        device = next(iter(model.parameters()), torch.empty(0)).device
    if x.shape[0] > 0:
        check_features(model, x.to(device))
    was_training = model.training
    model.eval()
    outs: list[torch.Tensor] = []
    dists: list[RepDistance] = []
    try:
        for lo in range(0, x.shape[0], batch_size):
            xb = x[lo : lo + batch_size].to(device, torch.float32)
            x0b = x0[lo : lo + batch_size].to(device, torch.float32)
            xr, d = _invert_batch(model, xb, x0b, steps, step_size)
            outs.append(xr.to(x.device))
            dists.append(RepDistance(d.absolute.cpu(), d.relative.cpu()))
            if progress is not None:
                progress(xb.shape[0])
    finally:
        model.train(was_training)
    if not outs:
        empty = torch.empty(0)
        return x0.clone().float(), RepDistance(empty, empty)
    return torch.cat(outs), RepDistance(
        torch.cat([d.absolute for d in dists]), torch.cat([d.relative for d in dists])
    )
