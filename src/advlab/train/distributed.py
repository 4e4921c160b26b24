"""DistributedDataParallel helpers: detect ``torchrun``, initialise, reduce, barrier.

Under ``torchrun --nproc_per_node=N`` the environment carries RANK / WORLD_SIZE /
LOCAL_RANK; the process group uses NCCL on CUDA and gloo on the CPU. Only rank 0
writes files; the others wait at barriers around each write.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    """This process's place: rank in 0..world-1, local_rank on its machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def setup(device: str) -> tuple[DistInfo, str]:
    """Initialise the process group when launched by torchrun.

    Returns:
        (info, device) where a CUDA device becomes ``cuda:<local_rank>``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(), device
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return DistInfo(rank, world, local), device


def barrier(info: DistInfo) -> None:
    if info.active:
        dist.barrier()


def all_sum(info: DistInfo, values: list[float], device: str) -> list[float]:
    """Sum floats over ranks (identity without DDP)."""
    if not info.active:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def wrap(model: nn.Module, info: DistInfo, device: str) -> nn.Module:
    """DDP-wrap ``model`` (already on ``device``) when distributed; identity otherwise."""
    if not info.active:
        return model
    ids = [torch.device(device).index] if device.startswith("cuda") else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def broadcast_flag(info: DistInfo, flag: bool, device: str) -> bool:
    """Rank 0's boolean, everywhere."""
    if not info.active:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.broadcast(t, 0)
    return bool(t.item())
