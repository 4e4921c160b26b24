"""Resume state without pickle: optimizer, RNG, epoch and step as safetensors + JSON.

``last/`` of a run folder holds, next to ``model.safetensors`` and ``config.json``:

* ``state.safetensors``: the optimizer's per-parameter tensors (``opt.<i>.<name>``)
  and the torch RNG states (``rng.cpu``, ``rng.cuda.<d>``), all plain tensors;
* ``state.json``: epoch, step (batches done within the epoch), the optimizer's
  param_groups and non-tensor per-parameter values, the schedule, Python's RNG state,
  and the metrics history so far.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from advlab.errors import AdvlabError
from advlab.store import read_json, to_jsonable

STATE_TENSORS = "state.safetensors"
STATE_JSON = "state.json"


def optimizer_to_parts(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``opt.state_dict()`` into tensors (for safetensors) and JSON-able values."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"opt.{idx}.{key}"] = val.detach().to("cpu").contiguous().clone()
            else:
                scalars.setdefault(str(idx), {})[key] = val
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_parts(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                         meta: dict[str, Any]) -> None:
    """Inverse of :func:`optimizer_to_parts`: load the state into ``opt``."""
    state: dict[int, dict[str, Any]] = {}
    for name, val in tensors.items():
        if not name.startswith("opt."):
            continue
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = val
    for idx, sc in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(sc)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def rng_tensors() -> dict[str, torch.Tensor]:
    """The torch RNG states (CPU and every CUDA device) as uint8 tensors."""
    out = {"rng.cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for d, st in enumerate(torch.cuda.get_rng_state_all()):
            out[f"rng.cuda.{d}"] = st
    return out


def restore_rng(tensors: dict[str, torch.Tensor], py_state: Any) -> None:
    """Restore what :func:`rng_tensors` and ``random.getstate()`` captured."""
    if "rng.cpu" in tensors:
        torch.set_rng_state(tensors["rng.cpu"])
    cuda = sorted(k for k in tensors if k.startswith("rng.cuda."))
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda])
    if py_state is not None:
        v, st, g = py_state
        random.setstate((v, tuple(st), g))


def state_files(opt: torch.optim.Optimizer, info: dict[str, Any]) -> dict[str, bytes]:
    """The two resume files for :func:`advlab.models.checkpoint.save_checkpoint`."""
    tensors, meta = optimizer_to_parts(opt)
    tensors.update(rng_tensors())
    doc = {**info, "optimizer": meta, "python_rng": random.getstate()}
    return {STATE_TENSORS: st_save(tensors),
            STATE_JSON: (json.dumps(to_jsonable(doc), indent=1) + "\n").encode()}


def read_state(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """Read the resume files of a ``last/`` folder; None when it has none."""
    tf, jf = folder / STATE_TENSORS, folder / STATE_JSON
    if not (tf.is_file() and jf.is_file()):
        return None
    try:
        tensors = st_load(tf.read_bytes())
    except Exception as e:  # safetensors raises its own error type
        raise AdvlabError(f"{tf}: unreadable resume state ({e}); rerun with --force") from None
    return tensors, read_json(jf)
