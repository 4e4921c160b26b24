"""Square attack (Andriushchenko et al. 2020): gradient-free random search, as in AutoAttack.

Each query changes the current best perturbation inside one random square window and keeps
the change if the margin ``z_y - max_{j != y} z_j`` decreases (or the point becomes
misclassified). The window's side shrinks on AutoAttack's schedule (``p_init`` halved at
query 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of 10,000, rescaled to
``n_queries``). Linf: the window is set to +-eps per channel (the start: vertical stripes
of +-eps). L2: the window gets a "pseudo-Gaussian" pattern of nested rectangles (and a
second window is emptied), rescaled so that the whole perturbation has norm eps.

As in AutoAttack's implementation, the window position and (Linf) the signs are shared by
the batch at each query; per point this is the same distribution as drawing them per point.
A point leaves the batch as soon as it is misclassified: only robust points cost queries.
One forward per query and no gradients, so masked gradients do not fool it.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor, nn

from advlab.attacks.base import FixedEpsAttack
from advlab.attacks.losses import margin
from advlab.attacks.threat import (
    Bounds,
    Box,
    _view,
    check_norm,
    clamp_box,
    resolve_box,
    take_bounds,
)
from advlab.errors import bad_argument

#: AutoAttack's schedule: (query out of 10,000 after which p is divided by the factor)
SCHEDULE = ((10, 2), (50, 4), (200, 8), (500, 16), (1000, 32), (2000, 64), (4000, 128),
            (6000, 256), (8000, 512))


def p_selection(p_init: float, i: int, n_queries: int) -> float:
    """Fraction of pixels in the window at query ``i`` of ``n_queries``."""
    it = int(i / n_queries * 10000)
    p = p_init
    for start, factor in SCHEDULE:
        if it > start:
            p = p_init / factor
    return p


@lru_cache(maxsize=64)
def _rectangles(h: int, w: int) -> Tensor:
    """Nested rectangles around the centre of an (h, w) patch, weights 1/(k+1)^2, unit L2."""
    delta = torch.zeros(h, w, dtype=torch.float64)
    ch, cw = h // 2, w // 2
    for k in range(max(ch, cw) + 1):
        delta[max(ch - k, 0):min(ch + k + 1, h), max(cw - k, 0):min(cw + k + 1, w)] += \
            1.0 / (k + 1) ** 2
    return delta / delta.norm()


@lru_cache(maxsize=64)
def eta(s: int) -> Tensor:
    """AutoAttack's L2 window pattern (s, s): rectangles above, minus rectangles below."""
    delta = torch.zeros(s, s, dtype=torch.float64)
    delta[:s // 2] = _rectangles(s // 2, s)
    delta[s // 2:] = -_rectangles(s - s // 2, s)
    return delta / delta.norm()


class Square(FixedEpsAttack):
    """Untargeted Square attack with the margin loss; verified results.

    Args (keyword-only, stored in ``.config``): norm ``"l2"`` | ``"linf"``; n_queries per
    point (AutoAttack: 5,000); p_init (0.8, initial fraction of the pixels in a window);
    restarts (each on the points still robust); box; batch_size; seed.
    """

    def __init__(self, *, norm: str = "l2", n_queries: int = 5000, p_init: float = 0.8,
                 restarts: int = 1, box: Box | str = (0.0, 1.0), batch_size: int = 256,
                 seed: int = 0) -> None:
        super().__init__(norm=norm, n_queries=n_queries, p_init=p_init, restarts=restarts,
                         box=box, batch_size=batch_size, seed=seed, early_stop=True)
        self.norm = check_norm(norm)
        for name, value in (("n_queries", n_queries), ("restarts", restarts),
                            ("batch_size", batch_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad_argument(name, value, "an integer >= 1")
        if not 0.0 < float(p_init) <= 1.0:
            raise bad_argument("p_init", p_init, "a fraction in (0, 1]")

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, eps: float,
             target: Tensor | None, clean_success: Tensor) -> Tensor:
        if target is not None:
            raise bad_argument("target", "a tensor", "None: Square is untargeted here")
        if x.dim() != 4:
            raise bad_argument("x", tuple(x.shape), "images (N, C, H, W)")
        gen = torch.Generator().manual_seed(int(self.config["seed"]))
        bounds = resolve_box(self.box, x)
        out, done = x.clone(), clean_success.clone()
        if eps == 0:
            return out
        for _ in range(self.config["restarts"]):
            for chunk in self.batches(torch.nonzero(~done).flatten(), eps):
                xa, succ = self._search(model, x[chunk], y[chunk], eps,
                                        take_bounds(bounds, chunk), gen)
                out[chunk[succ]] = xa[succ]
                done[chunk[succ]] = True
        return out

    def _search(self, model: nn.Module, x: Tensor, y: Tensor, eps: float, bounds: Bounds,
                gen: torch.Generator) -> tuple[Tensor, Tensor]:
        """Random search on one batch (m,C,H,W); returns (best x (m,C,H,W), success (m,))."""
        n_queries, p_init = self.config["n_queries"], float(self.config["p_init"])
        best = clamp_box(x + self._init(x, eps, gen), bounds)
        with torch.no_grad():
            best_margin = -margin(model(best), y)
        active = torch.nonzero(best_margin > 0).flatten()
        for i in range(n_queries):
            if len(active) == 0:
                break
            xa, cur = x[active], best[active]
            p = p_selection(p_init, i, n_queries)
            step = self._linf_step if self.norm == "linf" else self._l2_step
            new = clamp_box(step(xa, cur, eps, p, gen), take_bounds(bounds, active))
            with torch.no_grad():
                m = -margin(model(new), y[active])
            keep = (m < best_margin[active]) | (m <= 0)
            best[active[keep]], best_margin[active[keep]] = new[keep], m[keep]
            active = active[best_margin[active] > 0]
        return best, best_margin <= 0

    def _init(self, x: Tensor, eps: float, gen: torch.Generator) -> Tensor:
        """Starting perturbation: +-eps vertical stripes (Linf) or tiled patterns (L2)."""
        n, c, h, w = x.shape
        if self.norm == "linf":
            return eps * _signs((n, c, 1, w), gen, x)
        s = max(h // 5, 1)
        delta = torch.zeros_like(x)
        top = (h - s * 5) // 2 if h >= 5 else 0
        for r in range((h - top) // s):  # whole tiles only (5 per side on MNIST, CIFAR)
            for col in range((w - top) // s):
                patch = _pattern(s, gen, x) * _signs((n, c, 1, 1), gen, x)
                delta[:, :, top + r * s:top + (r + 1) * s, top + col * s:top + (col + 1) * s] += patch
        return eps * delta / _view(delta.flatten(1).norm(dim=1).clamp_min(1e-12), delta)

    @staticmethod
    def _linf_step(x: Tensor, cur: Tensor, eps: float, p: float, gen: torch.Generator) -> Tensor:
        """Set one window of the perturbation to +-eps (one sign per channel)."""
        _, c, h, w = x.shape
        s = min(max(int(round(math.sqrt(p * h * w))), 1), h, w)
        vh, vw = _position(h - s, gen), _position(w - s, gen)
        new = cur.clone()
        new[:, :, vh:vh + s, vw:vw + s] += 2 * eps * _signs((c, 1, 1), gen, x)
        return torch.minimum(torch.maximum(new, x - eps), x + eps)

    @staticmethod
    def _l2_step(x: Tensor, cur: Tensor, eps: float, p: float, gen: torch.Generator) -> Tensor:
        """Move the mass of window 2 into window 1 with a fresh pattern; norm stays eps."""
        n, c, h, w = x.shape
        s = max(int(round(math.sqrt(p * h * w))), 3)
        s = min(s + 1 if s % 2 == 0 else s, h, w)
        delta = cur - x
        vh, vw = _position(h - s, gen), _position(w - s, gen)
        vh2, vw2 = _position(h - s, gen), _position(w - s, gen)
        win = (slice(None), slice(None), slice(vh, vh + s), slice(vw, vw + s))
        win2 = (slice(None), slice(None), slice(vh2, vh2 + s), slice(vw2, vw2 + s))
        mask = torch.zeros_like(x[:1])
        mask[win] = mask[win2] = 1.0
        norm_win = delta[win].flatten(2).norm(dim=2)[..., None, None]  # (n, c, 1, 1)
        norm_image = delta.flatten(1).norm(dim=1)
        norm_both = (delta * mask).flatten(1).norm(dim=1)
        new = _pattern(s, gen, x) * _signs((n, c, 1, 1), gen, x) + delta[win] / (norm_win + 1e-12)
        budget = ((eps ** 2 - norm_image ** 2).clamp_min(0) / c + norm_both ** 2).sqrt()
        new = new / (new.flatten(2).norm(dim=2)[..., None, None] + 1e-12) * _view(budget, new)
        delta = delta.clone()
        delta[win2] = 0.0
        delta[win] = new
        return x + eps * delta / _view(delta.flatten(1).norm(dim=1).clamp_min(1e-12), delta)


def _pattern(s: int, gen: torch.Generator, like: Tensor) -> Tensor:
    """``eta(s)``, transposed with probability 1/2 (as AutoAttack draws it)."""
    pattern = eta(s)
    if torch.rand(1, generator=gen).item() > 0.5:
        pattern = pattern.T
    return pattern.to(like)


def _signs(shape: tuple[int, ...], gen: torch.Generator, like: Tensor) -> Tensor:
    """Random +-1 of ``shape`` (drawn on the CPU generator), as ``like``'s dtype and device."""
    return (torch.randint(0, 2, shape, generator=gen) * 2 - 1).to(like)


def _position(high: int, gen: torch.Generator) -> int:
    """A random window offset in [0, high) (0 when high <= 0), as AutoAttack draws it."""
    return int(torch.randint(0, high, (1,), generator=gen)) if high > 0 else 0


__all__ = ["Square", "p_selection", "eta"]
