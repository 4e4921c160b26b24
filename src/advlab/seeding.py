"""Deterministic seeding: one module for every random stream advlab derives.

* :func:`seed_everything` seeds Python, NumPy and torch at the start of a stage.
* :func:`derive_seed` gives an independent 63-bit seed for a named purpose
  (``derive_seed(seed, "validation")``, ``derive_seed(seed, epoch, step, rank)``), so no
  code adds magic offsets to a user's seed.
* :func:`seeded_subset` draws the same ``n`` indices out of ``n_total`` for the same seed.
* :func:`shard_seed` gives shard ``i`` of a dataset construction its own seed.

Same seed on the same machine, same numbers (CPU; on CUDA cuDNN is made deterministic).
"""

from __future__ import annotations

import hashlib
import random

import numpy as np
import torch


def derive_seed(seed: int, *parts: int | str) -> int:
    """A 63-bit seed that depends only on ``seed`` and the ``parts`` (stable everywhere).

    Args:
        seed: the user's seed.
        parts: what the seed is for: names (``"validation"``) and/or integers
            (epoch, step, rank, shard index). Different parts give independent streams.

    Returns:
        an int in [0, 2**63).
    """
    text = ".".join([str(int(seed)), *(p if isinstance(p, str) else str(int(p)) for p in parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def generator(seed: int, *parts: int | str, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator seeded with ``seed`` itself (no parts) or ``derive_seed(seed, *parts)``."""
    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(seed, *parts) if parts else int(seed))
    return g


def shard_seed(seed: int, shard: int) -> int:
    """The 63-bit seed of shard ``shard`` of a construction run with ``seed``.

    Derived by NumPy's ``SeedSequence`` mixing of (seed, shard) rather than
    :func:`derive_seed`, so datasets constructed by earlier versions stay bit-identical.
    """
    state = np.random.SeedSequence([int(seed) % 2**63, int(shard)]).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))


def seeded_subset(n_total: int, n: int | None, seed: int, *, sort: bool = False) -> torch.Tensor:
    """Indices of ``n`` of ``n_total`` items drawn without replacement, (n,) int64.

    ``n=None`` or ``n >= n_total`` gives every index in order, ``arange(n_total)``.
    Otherwise the first ``n`` of a seeded permutation of ``range(n_total)`` (so a smaller
    ``n`` gives a prefix of a larger one's draw), in that random order or sorted.
    """
    if n is None or n >= n_total:
        return torch.arange(n_total)
    idx = torch.randperm(n_total, generator=generator(seed))[:n]
    return idx.sort().values if sort else idx


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch; make CPU kernels deterministic.

    Same seed on the same machine gives the same results (CPU). On CUDA, cuDNN is put
    in deterministic mode, which costs some speed.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


__all__ = ["derive_seed", "generator", "seed_everything", "seeded_subset", "shard_seed"]
