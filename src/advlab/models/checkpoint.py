"""Checkpoint folders: ``model.safetensors`` + ``config.json``, never pickle.

``config.json`` holds ``model`` (the model's config, enough to rebuild the
architecture), ``weights_sha256`` (verified on load) and whatever the writer adds
(training config, metrics, ...). A run folder of ``advlab train`` holds ``best/`` and
``last/`` checkpoint folders; :func:`load_model` accepts either kind of folder.

Folders are published atomically: written under a temporary name, then swapped in, so
a reader (or a resumed run) never sees a half-written checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from advlab.errors import AdvlabError
from advlab.store import read_json, sha256_bytes, to_jsonable

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
FORMAT = "advlab-checkpoint/1"


def _state_bytes(model: nn.Module) -> bytes:
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    return st_save(state)


def _fsync_tree(d: Path) -> None:
    for p in d.iterdir():
        with open(p, "rb") as f:
            os.fsync(f.fileno())


def publish_folder(tmp: Path, dst: Path) -> None:
    """Replace folder ``dst`` by ``tmp`` (same parent) with two renames.

    If a crash falls between them, ``dst.old`` remains and :func:`resolve_folder`
    renames it back.
    """
    old = dst.with_name(dst.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if dst.exists():
        os.replace(dst, old)
    os.replace(tmp, dst)
    if old.exists():
        shutil.rmtree(old)


def resolve_folder(dst: Path) -> Path:
    """Recover ``dst`` from ``dst.old`` after a crash between the two renames."""
    old = dst.with_name(dst.name + ".old")
    if not dst.exists() and old.is_dir():
        with contextlib.suppress(OSError):
            os.replace(old, dst)
    return dst


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, extra: Mapping[str, Any] | None = None,
                    *, files: Mapping[str, bytes] | None = None) -> Path:
    """Write a checkpoint folder atomically.

    Args:
        path: the folder (created or replaced).
        model: a model from :func:`advlab.models.build_model` (has ``config``).
        extra: JSON-able entries merged into ``config.json`` (training config, metrics).
        files: more files to put in the folder, name -> bytes (e.g. resume state).

    Returns:
        The folder's path.
    """
    dst = Path(path)
    from advlab.models import config_of

    config = config_of(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    blob = _state_bytes(model)
    doc = {"format": FORMAT, "model": config, "weights_sha256": sha256_bytes(blob), **(extra or {})}
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        (tmp / WEIGHTS).write_bytes(blob)
        import json

        (tmp / CONFIG).write_text(json.dumps(to_jsonable(doc), indent=2) + "\n")
        for name, data in (files or {}).items():
            (tmp / name).write_bytes(data)
        _fsync_tree(tmp)
        publish_folder(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dst


def checkpoint_folder(path: str | os.PathLike[str]) -> Path:
    """The checkpoint folder for ``path``: itself, or ``best/`` / ``last/`` of a run folder."""
    p = Path(path)
    if not p.exists():
        raise AdvlabError(f"checkpoint: {str(p)!r} does not exist")
    if (p / CONFIG).is_file() and (p / WEIGHTS).is_file():
        return p
    for sub in ("best", "last"):
        q = resolve_folder(p / sub)
        if (q / CONFIG).is_file() and (q / WEIGHTS).is_file():
            return q
    raise AdvlabError(
        f"checkpoint: {str(p)!r} holds neither {WEIGHTS} + {CONFIG} nor best/ or last/ checkpoints"
    )


def read_weights(folder: Path, expected_sha: str | None) -> dict[str, torch.Tensor]:
    """Read ``model.safetensors``, verifying its sha256 against ``config.json``."""
    f = folder / WEIGHTS
    blob = f.read_bytes()
    if expected_sha is not None and sha256_bytes(blob) != expected_sha:
        raise AdvlabError(f"{f}: corrupted (sha256 does not match {CONFIG}); retrain or restore it")
    try:
        return st_load(blob)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise AdvlabError(f"{f}: not a readable safetensors file ({e})") from None


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], file: Path) -> None:
    """``load_state_dict(strict=True)`` with a one-line error naming ``file``."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:3]}")
        if shapes:
            k = shapes[0]
            parts.append(f"shape of {k}: config gives {tuple(own[k].shape)}, file has {tuple(state[k].shape)}")
        raise AdvlabError(f"{file}: weights do not match the architecture in {CONFIG} ({'; '.join(parts)})")
    model.load_state_dict(state, strict=True)


def load_checkpoint(path: str | os.PathLike[str], device: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Load a checkpoint (or run) folder: the model in eval mode and its ``config.json``."""
    from advlab.models import build_model

    folder = checkpoint_folder(path)
    doc = read_json(folder / CONFIG)
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), dict):
        raise AdvlabError(f"{folder / CONFIG}: not an advlab checkpoint config (no 'model' entry)")
    state = read_weights(folder, doc.get("weights_sha256"))
    mc = doc["model"]
    try:
        model = build_model(mc["arch"], in_shape=mc["in_shape"], num_classes=mc["num_classes"],
                            kwargs=mc.get("kwargs") or {})
    except KeyError as e:
        raise AdvlabError(f"{folder / CONFIG}: model entry lacks {e}") from None
    load_state(model, state, folder / WEIGHTS)
    return model.to(device).eval(), doc


def load_model(path: str | os.PathLike[str], device: str = "cpu") -> nn.Module:
    """Load a checkpoint folder or a run folder (its ``best/``, else ``last/``) in eval mode."""
    return load_checkpoint(path, device)[0]
