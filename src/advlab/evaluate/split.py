"""Evaluation points split over the ranks of a ``torchrun`` job.

An evaluation of N points is cut into fixed chunks whose layout depends on N and the
attack's batch size only (never on the number of ranks): chunk i holds points
``[i*S, min((i+1)*S, N))`` with ``S = min(batch_size, max(MIN_CHUNK, ceil(N / MAX_SPLIT)))``,
and an attack that draws its random starts from one stream per call (PGD) is seeded with
:func:`chunk_seed` (seed, i) there; APGD, whose starts are keyed by each point
(:mod:`advlab.attacks.keyed`), keeps the seed. So the verdict on every point is the same
whether one process attacks every chunk or K processes attack every K-th chunk each; the
per-chunk results are then summed over the ranks.

Splitting is switched on only inside :func:`over_ranks` (the recipe engine enters it around
the stages that every rank runs) and only when a process group of more than one rank is
initialised and ``WORLD_SIZE`` says so: every rank must then make the same evaluation
calls, in the same order (they are collectives). Outside it, and in one process,
nothing is exchanged and every chunk is computed here.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch import Tensor

from advlab.seeding import derive_seed

#: the smallest chunk (points), unless N itself is smaller
MIN_CHUNK = 16
#: N is cut into at least min(MAX_SPLIT, N / MIN_CHUNK) chunks (up to the batch size each)
MAX_SPLIT = 8

_depth = 0  # how many over_ranks() blocks are open


@contextlib.contextmanager
def over_ranks() -> Iterator[None]:
    """Inside this block, the evaluation functions split their points over the ranks of
    the initialised process group (a no-op in one process)."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1


def ranks() -> tuple[int, int]:
    """(rank, world size) the evaluation splits over: (0, 1) unless inside
    :func:`over_ranks` with an initialised process group and ``WORLD_SIZE`` > 1."""
    if _depth == 0 or not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:  # a stage rank 0 runs on its own
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def chunk_size(n: int, batch_size: int) -> int:
    """Points per chunk for an evaluation of ``n`` points (independent of the rank count)."""
    return max(1, min(batch_size, max(MIN_CHUNK, math.ceil(n / MAX_SPLIT))))


def chunks(n: int, batch_size: int) -> list[tuple[int, int]]:
    """The chunks' [start, stop) bounds, in order, covering ``range(n)``."""
    s = chunk_size(n, batch_size)
    return [(lo, min(lo + s, n)) for lo in range(0, n, s)]


def chunk_seed(seed: int, i: int) -> int:
    """The attack seed of chunk ``i``: ``seed`` itself for the first chunk (so an
    evaluation that fits in one chunk draws what it always drew), derived for the others."""
    return seed if i == 0 else derive_seed(seed, "chunk", i)


def mine(num_chunks: int) -> list[int]:
    """The chunks this rank computes: every world-th one, starting at its rank."""
    rank, world = ranks()
    return list(range(rank, num_chunks, world))


def all_sum(t: Tensor) -> Tensor:
    """``t`` summed over the ranks (``t`` itself in one process); same device and dtype.

    Each rank fills the rows of its own chunks and leaves zeros elsewhere, so the sum is
    the full result on every rank.
    """
    if ranks()[1] == 1:
        return t
    nccl = dist.get_backend() == "nccl"  # NCCL reduces CUDA tensors only, gloo CPU ones
    dev = torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")
    buf = t.detach().to(dev, torch.float64 if t.is_floating_point() else torch.int64).clone()
    dist.all_reduce(buf)
    return buf.to(t.device, t.dtype)


__all__ = ["MAX_SPLIT", "MIN_CHUNK", "all_sum", "chunk_seed", "chunk_size", "chunks", "mine",
           "over_ranks", "ranks"]
