"""Sharded, resumable, rank-parallel construction of per-sample datasets.

The N samples are cut into fixed shards of S samples: shard i holds indices
[i*S, min((i+1)*S, N)). Each shard's randomness derives from (seed, i) only (its own
``torch.Generator`` and a forked global RNG seeded the same way), so a shard's content
does not depend on which rank computes it, in which order, or whether the run was
interrupted before. Shards are written atomically to ``<root>/shard-XXXXX.safetensors``,
each stamped with the construction's key (a hash of every parameter that affects the
result); a rerun skips the shards already written and recomputes the others from scratch.

Under ``torchrun`` (env ``RANK`` / ``WORLD_SIZE``) shard i is computed by rank
``i % WORLD_SIZE``; ranks coordinate through the file system only (no process group is
needed), and rank 0 waits for every shard, then assembles them.

Memory: while constructing, one shard of outputs is in memory per rank. Assembly
preallocates the final tensors (N x C x H x W float32: 0.6 GB for CIFAR-10's 50,000
images) and streams the shards into them one at a time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from advlab.errors import AdvlabError, bad_argument
from advlab.progress import progress
from advlab.seeding import generator, shard_seed
from advlab.store import atomic_path

Tick = Callable[[int], None]
#: compute(shard index, start, stop, generator, tick) -> tensors with leading dim stop-start
ComputeShard = Callable[[int, int, int, torch.Generator, Tick], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class ShardPlan:
    """How N samples are cut into shards, and the key every shard is stamped with.

    Attributes:
        n: number of samples; shard_size: S, samples per shard (the last may be shorter).
        key: hash of the construction's parameters; shards with another key are refused.
        seed: the user seed; shard i draws from :func:`shard_seed` (seed, i).
    """

    n: int
    shard_size: int
    key: str
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.shard_size, int) or self.shard_size < 1:
            raise bad_argument("shard_size", self.shard_size, "an integer >= 1")
        if self.n < 0:
            raise bad_argument("n", self.n, "an integer >= 0")

    @property
    def num_shards(self) -> int:
        return -(-self.n // self.shard_size)

    def bounds(self, i: int) -> tuple[int, int]:
        """Sample indices [start, stop) of shard i."""
        return i * self.shard_size, min((i + 1) * self.shard_size, self.n)

    def mine(self, rank: int, world_size: int) -> list[int]:
        """Shards computed by ``rank``: those with ``i % world_size == rank``."""
        return list(range(rank, self.num_shards, world_size))


def shard_file(root: Path, i: int) -> Path:
    return Path(root) / f"shard-{i:05d}.safetensors"


def dist_env() -> tuple[int, int]:
    """(rank, world_size) from torchrun's ``RANK`` / ``WORLD_SIZE`` (default 0, 1)."""
    try:
        rank = int(os.environ.get("RANK", "0"))
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise AdvlabError(
            f"RANK / WORLD_SIZE: got {os.environ.get('RANK')!r} / {os.environ.get('WORLD_SIZE')!r}; "
            "expected integers (as torchrun sets them)"
        ) from None
    if world < 1 or not 0 <= rank < world:
        raise AdvlabError(f"RANK / WORLD_SIZE: got {rank} / {world}; expected 0 <= RANK < WORLD_SIZE")
    return rank, world


def _shard_state(path: Path, plan: ShardPlan, i: int) -> bool:
    """True when shard i is complete and belongs to this plan; False when absent.

    Raises:
        AdvlabError: the shard was written by a different construction.
    """
    if not path.exists():
        return False
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            lengths = {f.get_slice(k).get_shape()[0] for k in f.keys()}
    except (SafetensorError, OSError):
        path.unlink(missing_ok=True)  # unreadable: recompute it
        return False
    if meta.get("key") != plan.key:
        raise AdvlabError(
            f"out: {path} was written by a different construction (key {meta.get('key')!r}, "
            f"now {plan.key!r}); start over with force (--force) or choose another out folder",
            param="out",
        )
    start, stop = plan.bounds(i)
    if lengths != {stop - start}:
        path.unlink(missing_ok=True)
        return False
    return True


def _remove_stale_temps(root: Path, shards: list[int]) -> None:
    """Delete temporary files a killed run left for these shards (atomic_path names)."""
    for i in shards:
        for tmp in root.glob(f".shard-{i:05d}.*"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def _seeded_shard(
    compute: ComputeShard, plan: ShardPlan, i: int, tick: Tick, cuda: bool
) -> dict[str, torch.Tensor]:
    """Run ``compute`` for shard i with its own generator and a forked, seeded global RNG."""
    s = shard_seed(plan.seed, i)
    devices = [torch.cuda.current_device()] if cuda and torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(s)
        gen = generator(s)
        start, stop = plan.bounds(i)
        return compute(i, start, stop, gen, tick)


def run_shards(
    root: str | os.PathLike[str],
    plan: ShardPlan,
    compute: ComputeShard,
    *,
    rank: int = 0,
    world_size: int = 1,
    desc: str = "construct",
    cuda: bool = False,
) -> int:
    """Compute and write this rank's missing shards; return how many were computed.

    Args:
        root: the shards folder (created).
        compute: ``compute(i, start, stop, generator, tick)`` -> tensors whose first
            dimension is ``stop - start``; it calls ``tick(k)`` after k samples.
        rank, world_size: this process's share (shard i goes to rank i % world_size).
        cuda: also fork and seed the current CUDA device's RNG for each shard.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    mine = plan.mine(rank, world_size)
    _remove_stale_temps(root, mine)
    todo = [i for i in mine if not _shard_state(shard_file(root, i), plan, i)]
    total = sum(plan.bounds(i)[1] - plan.bounds(i)[0] for i in mine)
    left = sum(plan.bounds(i)[1] - plan.bounds(i)[0] for i in todo)
    label = f"{desc} [rank {rank}/{world_size}]" if world_size > 1 else desc
    with progress(total=total, initial=total - left, desc=label, unit="img", position=rank,
                  leave=world_size == 1) as bar:
        for i in todo:
            tensors = _seeded_shard(compute, plan, i, bar.update, cuda)
            start, stop = plan.bounds(i)
            bad = [k for k, t in tensors.items() if t.shape[:1] != (stop - start,)]
            if bad:
                raise RuntimeError(f"shard {i}: tensors {bad} do not have {stop - start} rows")
            meta = {"key": plan.key, "index": str(i), "start": str(start), "stop": str(stop)}
            cpu = {k: t.detach().cpu().contiguous() for k, t in tensors.items()}
            with atomic_path(shard_file(root, i)) as tmp:
                save_file(cpu, str(tmp), metadata=meta)
    return len(todo)


def wait_for_shards(
    root: str | os.PathLike[str], plan: ShardPlan, *, poll_s: float = 1.0,
    timeout_s: float | None = None,
) -> None:
    """Block until every shard of the plan exists (rank 0 waits for the other ranks).

    Raises:
        AdvlabError: after ``timeout_s`` seconds with shards still missing.
    """
    root = Path(root)
    t0 = time.monotonic()
    missing = list(range(plan.num_shards))
    with progress(total=plan.num_shards, initial=plan.num_shards - len(missing),
                  desc="waiting for shards", unit="shard") as bar:
        while True:
            left = [i for i in missing if not _shard_state(shard_file(root, i), plan, i)]
            bar.update(len(missing) - len(left))
            missing = left
            if not missing:
                return
            if timeout_s is not None and time.monotonic() - t0 > timeout_s:
                raise AdvlabError(
                    f"out: shards {missing[:5]} of {root} still missing after {timeout_s:.0f} s; "
                    "did another rank fail? rerun the same command to resume",
                    param="out",
                )
            time.sleep(poll_s)


def assemble(root: str | os.PathLike[str], plan: ShardPlan) -> dict[str, torch.Tensor]:
    """Concatenate every shard into preallocated tensors, one shard in flight at a time.

    Returns:
        name -> tensor with first dimension ``plan.n`` (same names as each shard).
    """
    root = Path(root)
    out: dict[str, torch.Tensor] = {}
    for i in range(plan.num_shards):
        start, stop = plan.bounds(i)
        part = load_file(str(shard_file(root, i)))
        if not out:
            out = {k: torch.empty((plan.n, *t.shape[1:]), dtype=t.dtype) for k, t in part.items()}
        if set(part) != set(out):
            raise AdvlabError(f"out: {shard_file(root, i)} holds {sorted(part)}; expected {sorted(out)}",
                              param="out")
        for k, t in part.items():
            out[k][start:stop] = t
        del part
    return out


def remove_shards(root: str | os.PathLike[str]) -> None:
    """Delete the shards folder (after a successful assembly, or for ``--force``)."""
    shutil.rmtree(root, ignore_errors=True)
