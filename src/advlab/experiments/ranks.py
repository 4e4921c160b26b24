"""The recipe engine under ``torchrun``: which rank runs what, and who writes.

``torchrun --nproc_per_node=K advlab reproduce ...`` starts K copies of the command, told
apart by ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK``. The engine
(:func:`advlab.experiments.engine.run_recipe`) then:

* initialises the process group (:func:`advlab.train.distributed.setup`: NCCL on CUDA,
  gloo on the CPU) and, if it did so, destroys it when the run ends;
* lets rank 0 alone claim and write the run folder: ``--force``'s clearing, config.json,
  every ``DONE.json``, log.txt, results.json, figures and the report; the other ranks
  wait at a barrier and read rank 0's stage results back from its ``DONE.json``, so every
  rank continues from the very same results;
* runs each stage in one of two modes (:data:`MODES`):

  - ``"all"``: every rank runs the stage's function. Training runs DDP
    (:func:`advlab.train.train`), constructions shard by rank through the file system
    (:func:`advlab.features.construct_dataset`), and the evaluations of
    :mod:`advlab.evaluate` split their points (:func:`advlab.evaluate.split.over_ranks`).
    Writes inside the stage are the library's: rank 0's, or each rank's own shards.
  - ``"main"``: rank 0 runs the stage as if it were the only process (``RANK=0``,
    ``WORLD_SIZE=1`` while it runs: nothing inside splits or waits for other ranks); the
    others wait for its ``DONE.json`` by polling the file system (no collective, so no
    timeout however long the stage takes).

Several nodes need a file system that every rank sees at the same path (``--out``): the
other ranks read rank 0's checkpoints, artifacts and ``DONE.json`` files from it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch.distributed as dist

from advlab.evaluate.split import over_ranks
from advlab.features.shards import dist_env
from advlab.store import RunDir, read_json
from advlab.train import distributed as dd

Mode = Literal["all", "main"]
#: the stage modes: every rank runs it, or rank 0 alone while the others wait
MODES: tuple[str, ...] = ("all", "main")
#: seconds between two looks for rank 0's DONE.json while a "main" stage runs
POLL_S = 0.5


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job.

    Attributes:
        info: rank, world size, local rank (``world == 1`` without torchrun).
        device: the device of collectives (``cuda:<local_rank>`` with NCCL, else as given).
        owned: this call initialised the process group (and destroys it at the end).
    """

    info: dd.DistInfo
    device: str
    owned: bool = False

    @property
    def main(self) -> bool:
        return self.info.main


def start(device: str) -> Ranks:
    """Join the job started by torchrun (initialising the process group), or one process."""
    _, world = dist_env()  # checks RANK / WORLD_SIZE
    if world == 1:
        return Ranks(dd.DistInfo(), device)
    owned = not dist.is_initialized()
    info, dev = dd.setup(device)
    return Ranks(info, dev, owned)


def finish(r: Ranks) -> None:
    """End of the run: destroy the process group if :func:`start` created it."""
    if r.owned and dist.is_initialized():
        dist.destroy_process_group()


def stage_device(r: Ranks, device: str) -> str:
    """The device a stage is given: ``cuda`` (the rank's own GPU, made current by
    :func:`start`) for any CUDA device under torchrun, ``device`` otherwise."""
    return "cuda" if r.info.active and device.startswith("cuda") else device


def barrier(r: Ranks) -> None:
    dd.barrier(r.info)


def rank0_flag(r: Ranks, flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank."""
    return dd.broadcast_flag(r.info, flag, r.device)


@contextlib.contextmanager
def alone() -> Iterator[None]:
    """Rank 0 runs the block as a one-process job: ``RANK=0``, ``WORLD_SIZE=1`` (and
    ``LOCAL_WORLD_SIZE=1``) in the environment, restored afterwards."""
    keys = ("RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_WORLD_SIZE="1")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def wait_for(path: Path, poll_s: float = POLL_S) -> None:
    """Block until ``path`` exists (rank 0 writes it; if rank 0 dies, torchrun ends this one)."""
    while not path.exists():
        time.sleep(poll_s)


def run_stage(r: Ranks, run_dir: RunDir | None, out: Path, name: str, fn: Callable[[Path], Any],
              mode: str, cached: bool) -> Any:
    """Run (or read back) one stage on every rank; return rank 0's result, everywhere.

    Args:
        run_dir: rank 0's run folder (None on the other ranks: they write nothing).
        fn: ``fn(stage_dir) -> result`` (rank 0's result is stored in ``DONE.json``).
        mode: ``"all"`` or ``"main"`` (:data:`MODES`).
        cached: rank 0 found the stage done (the same on every rank).
    """
    marker = out / name / "DONE.json"
    if not r.info.active:
        assert run_dir is not None
        return run_dir.stage(name, fn)
    if cached:
        return read_back(marker)["result"]
    if mode == "all":
        with over_ranks():
            if run_dir is not None:
                run_dir.stage(name, fn)
            else:
                d = out / name
                d.mkdir(parents=True, exist_ok=True)
                fn(d)  # the same compute; rank 0's result is the one kept
    elif run_dir is not None:
        with alone():
            run_dir.stage(name, fn)
    else:
        wait_for(marker)
    barrier(r)
    return read_back(marker)["result"]


def read_back(path: Path) -> Any:
    """A JSON file rank 0 wrote, read by any rank. On a network file system a file
    created on another node can take a moment to appear: wait for it first."""
    wait_for(path)
    return read_json(path)


__all__ = ["MODES", "Mode", "Ranks", "alone", "barrier", "finish", "rank0_flag", "read_back", "run_stage",
           "stage_device", "start", "wait_for"]
