"""Per-point random streams: a point's random draws depend on the point, never on its batch.

An attack's random start drawn from one generator for the whole batch depends on which
other points share the batch and where the point sits in it: evaluating eps 2 after eps 1.5
(only the points still robust are attacked again), resuming from robust flags, another
``batch_size`` or a split of the points over processes would each give a point another
start, hence another verdict. Here every point gets its own stream, seeded by the attack's
seed, a key of the point's content (its float32 pixels and label) and the purpose (restart,
target rank). So a point's verdict at an eps is the same whatever else is evaluated with it.
"""

from __future__ import annotations

import hashlib

import torch
from torch import Tensor

from advlab.seeding import derive_seed


def point_seeds(x: Tensor, y: Tensor, seed: int) -> list[int]:
    """One 63-bit seed per point of ``x`` (N, ...) with labels ``y`` (N,), from ``seed``
    and a sha256 of the point's float32 values and label."""
    rows = x.detach().to("cpu", torch.float32).contiguous().flatten(1).numpy()
    labels = y.detach().tolist()  # host values, as the pixels: the key hashes bytes
    return [derive_seed(seed, hashlib.sha256(r.tobytes() + str(int(c)).encode()).hexdigest())
            for r, c in zip(rows, labels, strict=True)]


def keyed_noise(seeds: list[int], shape: tuple[int, ...], *parts: int | str,
                kind: str = "normal", like: Tensor | None = None) -> Tensor:
    """Draws (len(seeds), *shape): row i from the stream ``derive_seed(seeds[i], *parts)``.

    ``kind``: ``"normal"`` (standard normal) or ``"uniform"`` (in [0, 1)). The rows are drawn
    on the CPU and returned with ``like``'s dtype and device (float32 on the CPU without it).
    """
    out = torch.empty((len(seeds), *shape))
    g = torch.Generator()
    for i, s in enumerate(seeds):
        g.manual_seed(derive_seed(s, *parts))
        if kind == "normal":
            torch.randn(shape, generator=g, out=out[i])
        else:
            torch.rand(shape, generator=g, out=out[i])
    return out if like is None else out.to(like)


__all__ = ["point_seeds", "keyed_noise"]
