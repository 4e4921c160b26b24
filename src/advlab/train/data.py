"""Deterministic data order, DDP sharding and batch augmentation.

The order of epoch ``e`` depends only on (seed, e); the random numbers of step ``s``
(augmentation, attack starts, dropout) only on (seed, e, s, rank). A run resumed at
(e, s) therefore replays exactly what an uninterrupted run would have done.
"""

from __future__ import annotations

import torch
from torch import Tensor

from advlab.errors import AdvlabError
from advlab.seeding import generator


def epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    """The permutation of ``range(n)`` used in ``epoch``: (n,) int64."""
    return torch.randperm(n, generator=generator(seed, epoch, 0x0D7A))


def epoch_batches(order: Tensor, batch_size: int, rank: int = 0, world: int = 1) -> list[Tensor]:
    """Split an epoch's order into global batches and keep this rank's share of each.

    Global batch ``b`` is ``order[b*B:(b+1)*B]``; rank ``r`` of ``world`` takes every
    ``world``-th element of it starting at ``r`` (so the global batch, and thus the
    averaged gradient, is the same as with one process). A last batch smaller than
    ``world`` is dropped so every rank has work at every step.
    """
    if batch_size % world:
        raise AdvlabError(
            f"--batch-size: got {batch_size}; expected a multiple of the {world} DDP processes"
        )
    out = []
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        if len(chunk) < world:
            break
        out.append(chunk[rank::world])
    return out


def augment(x: Tensor, kind: str, generator: torch.Generator) -> Tensor:
    """Random crop (zero padding H//8, at least 1) and optional horizontal flip.

    Args:
        x: (N, C, H, W) batch. kind: ``none``, ``crop`` or ``crop_flip``.
        generator: CPU generator giving the per-sample offsets and flips.

    Returns:
        (N, C, H, W), a new tensor (``x`` itself when ``kind`` is ``none``).
    """
    if kind == "none":
        return x
    n, c, h, w = x.shape
    pad = max(1, h // 8)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (N, H, 1)
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (N, 1, W)
    idx = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx, rows, cols].permute(0, 3, 1, 2)  # (N, C, H, W)
    if kind == "crop_flip":
        flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        out = torch.where(flip[:, None, None, None], out.flip(3), out)
    return out.contiguous()
