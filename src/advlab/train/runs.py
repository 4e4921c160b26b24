"""The run folder of a training run: config.json, metrics.json, results.json, last/.

Only rank 0 calls the writers. ``last/`` holds the final (or latest) weights and the
resume state (:mod:`advlab.train.state`). There is no ``best/``: a model picked by its
test accuracy would be selected on the test set (runs of older versions may still hold
one; ``--force`` removes it).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advlab.errors import AdvlabError
from advlab.models.checkpoint import (
    CONFIG,
    load_state,
    read_config,
    read_weights,
    resolve_folder,
    save_checkpoint,
)
from advlab.store import atomic_write_json, read_json
from advlab.train.state import optimizer_from_parts as _opt_from_parts
from advlab.train.state import read_state, restore_rng, state_files

MINE = ("best", "last", "best.old", "last.old", "config.json", "metrics.json", "results.json")
# Fields that may differ between a run and its resumption.
_VOLATILE = {"device", "checkpoint_every_steps", "checkpoint_every_seconds", "data_root"}


@dataclass
class Progress:
    """Where training stands: next epoch, batches done in it, and what was measured."""

    epoch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    partial: dict[str, float] = field(default_factory=dict)  # running sums of this epoch


def clear(out: Path) -> None:
    """Remove this trainer's files from ``out`` (``--force``); other files are kept."""
    for name in MINE:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def write_run_config(out: Path, identity: dict[str, Any], extra: dict[str, Any]) -> None:
    """config.json at the run root; refuses to reuse a folder of a different run."""
    f = out / "config.json"
    if f.exists():
        old = read_json(f).get("identity", {})
        diff = sorted(k for k in set(old) | set(identity) if old.get(k) != identity.get(k))
        if diff:
            raise AdvlabError(
                f"--out: {str(out)!r} holds a different training run (differs in {', '.join(diff)}); "
                "use --force to overwrite it or choose another --out"
            )
    atomic_write_json(f, {"identity": identity, **extra})


#: speed-path fields at their defaults: left out of the identity, so a float32 run keeps the
#: identity it had before these fields existed (and its folder still resumes)
_SPEED_DEFAULTS = {"precision": "fp32", "channels_last": False, "compile": False}


def identity_of(train_cfg: dict[str, Any], model_cfg: dict[str, Any], data_sha: str) -> dict[str, Any]:
    """What must match for a run folder to be resumed."""
    return {**{k: v for k, v in train_cfg.items() if k not in _VOLATILE
               and not (k in _SPEED_DEFAULTS and v == _SPEED_DEFAULTS[k])},
            "model_config": model_cfg, "data_sha256": data_sha}


def save_last(out: Path, model: nn.Module, opt: torch.optim.Optimizer, prog: Progress,
              extra: dict[str, Any]) -> None:
    """Write ``last/`` with weights and the resume state."""
    info = {"epoch": prog.epoch, "step": prog.step, "history": prog.history,
            "partial": prog.partial}
    save_checkpoint(out / "last", model, {**extra, "epoch": prog.epoch, "step": prog.step},
                    files=state_files(opt, info))


def try_resume(out: Path, model: nn.Module, opt: torch.optim.Optimizer) -> Progress | None:
    """Load ``last/`` into ``model`` and ``opt``; None when there is nothing to resume."""
    last = resolve_folder(out / "last")
    if not (last / CONFIG).is_file():
        return None
    got = read_state(last)
    if got is None:
        return None
    tensors, info = got
    doc = read_config(last)
    load_state(model, read_weights(last, doc.get("weights_sha256")), last / "model.safetensors")
    _opt_from_parts(opt, tensors, info["optimizer"])
    restore_rng(tensors, info.get("python_rng"))
    return Progress(epoch=int(info["epoch"]), step=int(info["step"]), history=info["history"],
                    partial=info.get("partial") or {})
