"""Threat-model geometry shared by every attack: norms, projections and the box.

A threat model is a norm (``"l2"`` or ``"linf"``), a radius ``eps`` (pixel units) and a
box that adversarial images must stay in:

* ``(lo, hi)`` floats - the usual image box, ``(0.0, 1.0)`` by default;
* ``None`` - unbounded (synthetic MFA samples that already leave [0, 1]);
* ``"per-sample"`` - per coordinate ``[min(0, x0), max(1, x0)]``, i.e. the image box
  widened just enough to contain the clean point (synthetic samples are never clipped,
  so they may start outside [0, 1]; docs/attacks.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from advlab.errors import bad_argument

NORMS: tuple[str, ...] = ("l2", "linf")
Box = tuple[float, float] | None | Literal["per-sample"]
#: a resolved box: lower and upper bounds broadcastable to x (N, C, H, W), or None
Bounds = tuple[Tensor, Tensor] | None


def check_norm(norm: object) -> str:
    """Return ``norm`` if it is ``"l2"`` or ``"linf"``, else raise AdvlabError."""
    if norm not in NORMS:
        raise bad_argument("norm", norm, "'l2' or 'linf'")
    return str(norm)


def check_eps(eps: object, name: str = "eps") -> float:
    """Return ``eps`` as a float if it is a finite number >= 0, else raise AdvlabError."""
    try:
        value = float(eps)  # type: ignore[arg-type]  # any object: float() raises, caught below
    except (TypeError, ValueError):
        raise bad_argument(name, eps, "a number >= 0") from None
    if not math.isfinite(value) or value < 0:
        raise bad_argument(name, eps, "a finite number >= 0")
    return value


def check_box(box: object) -> Box:
    """Validate a box specification: ``(lo, hi)`` with lo < hi, ``None`` or ``"per-sample"``."""
    if box is None or box == "per-sample":
        return box
    if isinstance(box, (tuple, list)) and len(box) == 2:
        lo, hi = float(box[0]), float(box[1])
        if math.isfinite(lo) and math.isfinite(hi) and lo < hi:
            return (lo, hi)
    raise bad_argument("box", box, "(lo, hi) with lo < hi, None (unbounded) or 'per-sample'")


def resolve_box(box: Box, x0: Tensor) -> Bounds:
    """Turn a box specification into tensors of bounds for the clean images ``x0`` (N,C,H,W).

    Returns:
        ``(lo, hi)`` tensors broadcastable to ``x0`` or ``None`` for an unbounded box.
    """
    if box is None:
        return None
    if box == "per-sample":
        return x0.clamp(max=0.0), x0.clamp(min=1.0)
    lo, hi = box
    return (torch.tensor(lo, dtype=x0.dtype, device=x0.device),
            torch.tensor(hi, dtype=x0.dtype, device=x0.device))


def take_bounds(bounds: Bounds, idx: Tensor) -> Bounds:
    """Restrict resolved bounds to the samples ``idx``: per-sample (N,C,H,W) bounds are
    indexed, scalar bounds and ``None`` pass through."""
    if bounds is None:
        return None
    lo, hi = bounds
    return (lo[idx] if lo.dim() else lo, hi[idx] if hi.dim() else hi)


def clamp_box(x: Tensor, bounds: Bounds) -> Tensor:
    """Clip ``x`` (N,C,H,W) into the resolved box (identity when unbounded)."""
    if bounds is None:
        return x
    return torch.clamp(x, bounds[0], bounds[1])  # one kernel; tensor bounds broadcast


def norms(delta: Tensor, norm: str) -> Tensor:
    """Per-sample norm of perturbations ``delta`` (N, ...) -> (N,)."""
    flat = delta.flatten(1)
    if norm == "l2":
        return flat.norm(p=2, dim=1)
    return flat.abs().amax(dim=1) if flat.shape[1] else flat.new_zeros(flat.shape[0])


def _view(v: Tensor, like: Tensor) -> Tensor:
    """Reshape a per-sample vector (N,) to broadcast against ``like`` (N, ...)."""
    return v.view(-1, *([1] * (like.dim() - 1)))


def project_ball(delta: Tensor, norm: str, eps: float | Tensor) -> Tensor:
    """Project perturbations ``delta`` (N, ...) onto the ``norm`` ball of radius ``eps``.

    ``eps`` is a float or a per-sample tensor (N,).
    """
    if norm == "linf":
        e = _view(eps, delta) if isinstance(eps, Tensor) else eps
        return torch.maximum(torch.minimum(delta, e), -e) if isinstance(e, Tensor) \
            else delta.clamp(-e, e)
    n = norms(delta, "l2")
    factor = torch.clamp(eps / n.clamp_min(1e-12), max=1.0)
    return delta * _view(factor, delta)


def normalized_step(grad: Tensor, norm: str) -> Tensor:
    """Steepest-ascent direction of unit size: ``g/||g||_2`` (L2, Appendix C.3) or ``sign(g)``."""
    if norm == "linf":
        return grad.sign()
    return grad / _view(norms(grad, "l2").clamp_min(1e-12), grad)


def random_in_ball(like: Tensor, norm: str, eps: float | Tensor,
                   generator: torch.Generator | None = None) -> Tensor:
    """Sample perturbations uniformly in the ``norm`` ball of radius ``eps``, shaped like ``like``.

    L2: a gaussian direction normalised to the unit sphere, radius ``eps * U^(1/d)``
    (uniform in volume). Linf: uniform in ``[-eps, eps]^d``.
    """
    e = _view(eps, like) if isinstance(eps, Tensor) else eps
    if norm == "linf":
        u = torch.rand(like.shape, generator=generator, dtype=like.dtype, device="cpu")
        return (2 * u.to(like.device) - 1) * e
    g = torch.randn(like.shape, generator=generator, dtype=like.dtype, device="cpu").to(like.device)
    direction = normalized_step(g, "l2")
    d = max(1, like[0].numel()) if like.shape[0] else 1
    u = torch.rand(like.shape[0], generator=generator, dtype=like.dtype, device="cpu")
    radius = _view(u.to(like.device) ** (1.0 / d), like)
    return direction * radius * e


@dataclass(frozen=True)
class ThreatModel:
    """A norm ball of radius ``eps`` intersected with a box.

    Args:
        norm: ``"l2"`` or ``"linf"``.
        eps: radius in pixel units (>= 0).
        box: ``(lo, hi)``, ``None`` (unbounded) or ``"per-sample"``.
    """

    norm: str
    eps: float
    box: Box = (0.0, 1.0)

    def __post_init__(self) -> None:
        check_norm(self.norm)
        object.__setattr__(self, "eps", check_eps(self.eps))
        object.__setattr__(self, "box", check_box(self.box))

    def project(self, x_adv: Tensor, x0: Tensor) -> Tensor:
        """Project ``x_adv`` (N,C,H,W) onto the ball around ``x0`` and then into the box."""
        delta = project_ball(x_adv - x0, self.norm, self.eps)
        return clamp_box(x0 + delta, resolve_box(self.box, x0))
