"""Representation inversion: the robust / non-robust datasets D_R and D_NR (Ilyas et al. §3.1).

For each training pair (x, y), start from an input x0 drawn independently of y (another
training image, or noise: Appendix D.1) and minimise ``||g(x_r) - g(x)||_2`` over x_r in
[0, 1]^d, where g is the source model's penultimate representation (``model.features``).
Every step is a normalised L2 gradient step (Appendix C.4) followed by clipping to [0, 1];
the pair (x_r, y) keeps the label of x. Figure 5 takes the arg min over the iterates, so
each sample returns the iterate with the smallest representation distance seen, not
necessarily the last one.

Two optimizers of the same objective differ only in the length of the steps:

* ``"paper"``: a fixed length (Table 5: CIFAR-10 1000 steps of 0.1; Restricted ImageNet
  2000 steps of 1; 10x the steps from noise, footnote 16). The library's default.
* ``"polyak"``: each sample's step is as long as Polyak's step for an objective whose
  minimum is 0, halved, and at most ``step_size``: with f = ``||g(x_r) - g(x)||``, the
  length is ``min(step_size, 0.5 * f / ||grad f||)``. Far from the target the steps are
  long, close to it they shrink with f, so the iterates settle instead of circling at a
  fixed radius. ``benchmarks/inversion.py`` measures how many fewer gradient
  evaluations it needs to reach the paper schedule's final distance.

Either one can stop each sample early: with ``tol > 0`` a sample whose relative distance
``||g(x_r) - g(x)|| / ||g(x)||`` is at most ``tol`` leaves the batch.

A robust (adversarially trained) source gives D_R; a standard one gives D_NR: the
algorithm is the same, only the source model differs.

Cost: one forward and one backward to the input per step and active sample (g(x) is
computed once per batch; the distance of the last iterate costs one extra gradient-free
forward per batch). The distance of every other iterate comes from its step's forward.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import nn

from advlab.attacks.mode import eval_mode
from advlab.errors import AdvlabError, bad_argument
from advlab.precision import describe, full_precision

Init = Literal["image", "noise"]
Optimizer = Literal["paper", "polyak"]

#: optimizer name -> what it does, in one line (recorded in a construction's provenance)
OPTIMIZERS: dict[str, str] = {
    "paper": "normalised L2 gradient steps of fixed length step_size (Appendix C.4, Table 5)",
    "polyak": "normalised L2 gradient steps of length min(step_size, 0.5 f / ||grad f||), "
              "f = ||g(x_r) - g(x)||: half Polyak's step for a minimum of 0, capped",
}
#: the fraction of Polyak's step ``f / ||grad f||`` that the ``polyak`` optimizer takes
POLYAK_FACTOR = 0.5

# Appendix C.4, Table 5 (and footnote 16 for the noise start).
TABLE5: dict[str, dict[str, float]] = {
    "cifar10": {"steps": 1000, "step_size": 0.1, "noise_steps": 10_000},
    "restricted-imagenet": {"steps": 2000, "step_size": 1.0, "noise_steps": 20_000},
}


@dataclass(frozen=True)
class RobustifyConfig:
    """Hyper-parameters of the representation inversion (Table 5).

    Attributes:
        steps: normalised gradient steps per sample (at most; see ``tol``).
        step_size: L2 length of every step (``paper``) or the longest step (``polyak``),
            in pixel units.
        init: ``"image"`` (x0 = another image of the same split, drawn uniformly and
            independently of the label) or ``"noise"`` (x0 = clip(0.5 + noise_std * N(0, I))).
        noise_std: standard deviation of the Gaussian start (``init="noise"`` only).
        batch_size: images optimised together (does not change the maths: every sample
            has its own normalised step).
        optimizer: ``"paper"`` (fixed step length) or ``"polyak"`` (see :data:`OPTIMIZERS`).
        tol: per-sample stop: a sample leaves the batch once its relative representation
            distance is <= tol (0: every sample takes every step).
    """

    steps: int = 1000
    step_size: float = 0.1
    init: Init = "image"
    noise_std: float = 0.25
    batch_size: int = 256
    optimizer: Optimizer = "paper"
    tol: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 0:
            raise bad_argument("steps", self.steps, "an integer >= 0")
        if not (self.step_size > 0 and math.isfinite(self.step_size)):
            raise bad_argument("step_size", self.step_size, "a finite number > 0")
        if self.init not in ("image", "noise"):
            raise bad_argument("init", self.init, "'image' or 'noise'")
        if not (self.noise_std > 0 and math.isfinite(self.noise_std)):
            raise bad_argument("noise_std", self.noise_std, "a finite number > 0")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise bad_argument("batch_size", self.batch_size, "an integer >= 1")
        if self.optimizer not in OPTIMIZERS:
            raise bad_argument("optimizer", self.optimizer, "one of " + ", ".join(OPTIMIZERS))
        if not (self.tol >= 0 and math.isfinite(self.tol)):
            raise bad_argument("tol", self.tol, "a finite number >= 0")


class RepDistance(NamedTuple):
    """Per-sample outcome of the inversion, at the returned (best) iterate.

    Attributes:
        absolute: ``||g(x_r) - g(x)||_2``, shape (N,).
        relative: ``||g(x_r) - g(x)||_2 / ||g(x)||_2``, shape (N,) (inf where g(x) = 0).
        grad_evals: forward + backward passes the sample took part in, int64 (N,).
        best_step: index of the returned iterate (0 = the start x0), int64 (N,).

    A sample stopped by ``tol`` at iterate k has ``best_step == k == grad_evals - 1`` and
    ``relative <= tol``; every other sample took all the steps (``grad_evals == steps``).
    """

    absolute: torch.Tensor
    relative: torch.Tensor
    grad_evals: torch.Tensor
    best_step: torch.Tensor


def check_features(model: nn.Module, x: torch.Tensor, name: str = "model") -> int:
    """Check that ``_features(model, x)`` returns a (N, D) representation; return D.

    The probe runs in eval mode under ``torch.no_grad()``; every module's mode is
    restored, so a BatchNorm model passed in train mode keeps its running statistics.

    Raises:
        AdvlabError: naming ``name`` and the model class when ``features`` is missing or
            does not return a 2-D tensor (torchvision's ``features`` sub-networks do not).
    """
    cls = type(model).__name__
    feats = getattr(model, "features", None)
    if not callable(feats):
        raise AdvlabError(
            f"{name}: the model ({cls}) has no features(x) method (the penultimate representation); "
            "dataset construction needs an advlab model that exposes one",
            param=name,
        )
    with eval_mode(model), torch.no_grad():
        out = feats(x[:1])
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 1:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise AdvlabError(
            f"{name}: the model's {cls}.features(x) returned {shape} for one image; expected (1, D), "
            "the input of the last linear layer",
            param=name,
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
        raise bad_argument("n", pool_size, "at least 2 images for init='image'", "or use init='noise'")
    k = torch.randint(0, pool_size - 1, index.shape, generator=generator)
    return k + (k >= index).to(torch.int64)


def _features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """g(x): the source model's penultimate representation, (N, C, H, W) -> (N, D)."""
    # nn.Module types any attribute as Tensor | Module; features(x) is every advlab model's method
    out: torch.Tensor = model.features(x)  # type: ignore[operator]
    return out


def _step(
    model: nn.Module, xr: torch.Tensor, target: torch.Tensor, length: float,
    polyak: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One normalised gradient step on ``||g(x_r) - g(x)||^2``, then clip to [0, 1].

    Args:
        xr: current iterate (N, C, H, W); target: g(x), shape (N, D).
        length: L2 step length; with ``polyak`` the longest step, each sample's being
            ``min(length, POLYAK_FACTOR * f / ||grad f||)`` with f its distance.

    Returns:
        ``(next iterate (N, C, H, W) detached, ||g(xr) - g(x)||_2 at the current iterate (N,))``.
    """
    xr = xr.detach().requires_grad_(True)
    # Squared distance: its per-sample gradient points the same way as the distance's,
    # and the step is normalised, so this is the paper's update without sqrt at 0.
    sq = (_features(model, xr) - target).pow(2).sum(dim=1)
    (grad,) = torch.autograd.grad(sq.sum(), xr)
    with torch.no_grad():  # a new tensor: the caller's iterate is left as it was
        gnorm = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
        sq = sq.detach()
        # grad f = grad(f^2) / (2 f), so f / ||grad f|| = 2 f^2 / ||grad(f^2)||
        step = (POLYAK_FACTOR * 2 * sq / gnorm).clamp_(max=length) if polyak \
            else torch.full_like(gnorm, length)
        scale = (step / gnorm).view((-1,) + (1,) * (xr.ndim - 1))
        return (xr.detach() - grad.mul_(scale)).clamp_(0.0, 1.0), sq.sqrt()


def inversion_step(
    model: nn.Module, xr: torch.Tensor, target: torch.Tensor, step_size: float
) -> torch.Tensor:
    """One normalised gradient step of length ``step_size`` (the paper's update).

    Args:
        xr: current iterate (N, C, H, W); target: g(x), shape (N, D).

    Returns:
        The next iterate (N, C, H, W), detached. Cost: one features forward and one
        backward to the input; parameter gradients are not computed into ``.grad``.
    """
    return _step(model, xr, target, step_size)[0]


class _Best:
    """Per-sample arg min over iterates: the best iterate, its distance and step index."""

    def __init__(self, x0: torch.Tensor) -> None:
        n = x0.shape[0]
        self.x = x0.clone()
        self.dist = torch.full((n,), math.inf, device=x0.device)
        self.step = torch.zeros(n, dtype=torch.int64, device=x0.device)

    def update(self, idx: torch.Tensor | None, x: torch.Tensor, dist: torch.Tensor, k: int) -> None:
        """Keep iterate k of the samples ``idx`` (None: all) where it is strictly closer."""
        old = self.dist if idx is None else self.dist[idx]
        better = dist < old
        where = better.nonzero().squeeze(1) if idx is None else idx[better]
        self.x[where] = x[better]
        self.dist[where] = dist[better]
        self.step[where] = k


def _invert_batch(
    model: nn.Module, x: torch.Tensor, x0: torch.Tensor, cfg: RobustifyConfig
) -> tuple[torch.Tensor, RepDistance]:
    """Normalised-gradient descent on ``||g(x_r) - g(x)||^2`` for one batch (N, C, H, W);
    returns each sample's best iterate and its :class:`RepDistance`."""
    with torch.no_grad():
        target = _features(model, x)  # (N, D), computed once
    ref = target.norm(dim=1)
    xr, best = x0.detach().clone(), _Best(x0)
    evals = torch.zeros(x.shape[0], dtype=torch.int64, device=x.device)
    active: torch.Tensor | None = None  # indices still optimised; None: all of them
    for k in range(cfg.steps):
        cur = xr if active is None else xr[active]
        nxt, dist = _step(model, cur, target if active is None else target[active], cfg.step_size,
                          polyak=cfg.optimizer == "polyak")
        best.update(active, cur, dist, k)
        ids = torch.arange(x.shape[0], device=x.device) if active is None else active
        evals[ids] += 1
        keep = dist > cfg.tol * ref[ids] if cfg.tol > 0 else None
        if keep is None or (active is None and bool(keep.all())):
            xr = nxt  # every sample goes on (active is None here)
            continue
        xr[ids[keep]] = nxt[keep]
        active = ids[keep]
        if active.numel() == 0:
            break
    else:  # the last iterate's distance: one gradient-free forward
        last = xr if active is None else xr[active]
        with torch.no_grad():
            dist = (_features(model, last) - (target if active is None else target[active])).norm(dim=1)
        best.update(active, last, dist, cfg.steps)
    rel = torch.where(ref > 0, best.dist / ref.clamp_min(1e-30), torch.full_like(best.dist, math.inf))
    return best.x, RepDistance(best.dist, rel, evals, best.step)


def _float32_distances(model: nn.Module, x: torch.Tensor, xr: torch.Tensor,
                       d: RepDistance) -> RepDistance:
    """For a model run in a low precision (:mod:`advlab.precision`), the distances of the
    returned iterates xr (N, C, H, W) to g(x) recomputed in float32 (one gradient-free forward
    of each); the inversion itself chose xr with its low-precision distances. Other models:
    ``d`` unchanged."""
    exact = full_precision(model)
    if exact is model or describe(model)["precision"] == "fp32":
        return d
    with torch.no_grad():
        target = _features(exact, x)
        dist = (_features(exact, xr) - target).norm(dim=1)
        ref = target.norm(dim=1)
    rel = torch.where(ref > 0, dist / ref.clamp_min(1e-30), torch.full_like(dist, math.inf))
    return RepDistance(dist, rel, d.grad_evals, d.best_step)


def robustify(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    x0: torch.Tensor,
    steps: int,
    step_size: float,
    batch_size: int = 256,
    optimizer: Optimizer = "paper",
    tol: float = 0.0,
    device: str | torch.device | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, RepDistance]:
    """Invert the source model's representation of x, starting from x0 (Figure 5).

    Args:
        model: source classifier with ``features(x) -> (N, D)``; put in eval mode during
            the call (every module's mode is restored) and its parameter gradients are
            not touched.
        x: target images in [0, 1], shape (N, C, H, W).
        y: labels, shape (N,); kept unchanged by the construction (checked for shape only).
        x0: starting images in [0, 1], shape (N, C, H, W), drawn independently of y.
        steps: normalised gradient steps (at most, with ``tol``); step_size: their L2
            length (``paper``) or their longest (``polyak``).
        batch_size: images per forward/backward.
        optimizer: ``"paper"`` or ``"polyak"`` (:data:`OPTIMIZERS`); tol: per-sample stop
            at this relative representation distance (0: off).
        device: where to compute (default: the model's device); results come back on x's device.
        progress: called with the number of images finished after each batch.

    Returns:
        ``(x_r, rep_dist)``: x_r float32 in [0, 1], shape (N, C, H, W), each sample's
        iterate closest to g(x) in representation space; rep_dist its absolute and
        relative distances, gradient evaluations and step index (all on the CPU).

    A model run with the speed paths (:func:`advlab.precision.speed_paths`: bf16 / fp16
    autocast) computes g in that precision for every step; the steps, their normalisation
    and the clipping are float32, and the distances returned are recomputed in float32.
    """
    if x.shape != x0.shape:
        raise bad_argument("x0", tuple(x0.shape), f"shape {tuple(x.shape)} to match x")
    if y.shape != (x.shape[0],):
        raise bad_argument("y", tuple(y.shape), f"shape ({x.shape[0]},)")
    cfg = RobustifyConfig(steps=steps, step_size=step_size, batch_size=batch_size,
                          optimizer=optimizer, tol=tol)  # validates
    if device is None:
        device = next(iter(model.parameters()), torch.empty(0)).device
    if x.shape[0] == 0:
        empty, none = torch.empty(0), torch.empty(0, dtype=torch.int64)
        return x0.clone().float(), RepDistance(empty, empty, none, none)
    check_features(model, x[:1].to(device), "model")
    outs: list[torch.Tensor] = []
    parts: list[RepDistance] = []
    with eval_mode(model):
        for lo in range(0, x.shape[0], batch_size):
            xb = x[lo : lo + batch_size].to(device, torch.float32)
            x0b = x0[lo : lo + batch_size].to(device, torch.float32)
            xr, d = _invert_batch(model, xb, x0b, cfg)
            d = _float32_distances(model, xb, xr, d)
            outs.append(xr.to(x.device))
            parts.append(RepDistance(*(t.cpu() for t in d)))
            if progress is not None:
                progress(xb.shape[0])
    return torch.cat(outs), RepDistance(*(torch.cat(ts) for ts in zip(*parts, strict=True)))
