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
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from advlab.errors import AdvlabError
from advlab.models import IN_SHAPE, MAX_CLASSES
from advlab.models import LOADABLE as _ARCHS
from advlab.schema import Int, Json, Nullable, Obj, OneOf, Str, validate
from advlab.store import MAX_CONFIG_BYTES, check_path, read_json, sha256_bytes, to_jsonable
from advlab.tensorfile import DTYPE_NAME, expect_tensors, read_header

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
            A model card, ``README.md``, is rendered from the same entries.
        files: more files to put in the folder, name -> bytes (e.g. resume state).

    Returns:
        The folder's path.
    """
    dst = Path(path)
    from advlab.models import config_of
    from advlab.models.card import model_card

    config = config_of(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    blob = _state_bytes(model)
    doc = {"format": FORMAT, "model": config, "weights_sha256": sha256_bytes(blob), **(extra or {})}
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        (tmp / WEIGHTS).write_bytes(blob)
        import json

        (tmp / CONFIG).write_text(json.dumps(to_jsonable(doc), indent=2) + "\n")
        (tmp / "README.md").write_text(model_card(to_jsonable(doc)))
        for name, data in (files or {}).items():
            (tmp / name).write_bytes(data)
        _fsync_tree(tmp)
        publish_folder(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dst


def checkpoint_folder(path: str | os.PathLike[str]) -> Path:
    """The checkpoint folder for ``path``: itself, or ``last/`` of a training run folder.

    A run folder resolves to ``last/``, the weights of the final epoch: advlab never
    selects a model on test data. An old run folder's ``best/`` (picked by test accuracy
    before this rule) is only used when named explicitly.
    """
    p = check_path(path, "checkpoint")
    if not p.exists():
        raise AdvlabError(f"checkpoint: {str(p)!r} does not exist")
    if _is_checkpoint(p):
        return p
    q = resolve_folder(p / "last")
    if _is_checkpoint(q):
        return q
    hint = (f"; its best/ was selected on the test set and is not used unless named: "
            f"pass {str(p / 'best')!r} to use it anyway") if _is_checkpoint(p / "best") else ""
    raise AdvlabError(
        f"checkpoint: {str(p)!r} holds neither {WEIGHTS} + {CONFIG} nor a last/ checkpoint{hint}"
    )


def _is_checkpoint(p: Path) -> bool:
    return os.path.isfile(p / CONFIG) and os.path.isfile(p / WEIGHTS)


#: config.json of a checkpoint; fields other than these are the writer's (any bounded JSON).
MODEL_SCHEMA = Obj({"arch": OneOf(_ARCHS), "in_shape": IN_SHAPE,
                    "num_classes": Int(2, MAX_CLASSES),
                    "kwargs": Obj({}, extra=Json(), max_keys=64, what="an object of arguments")},
                   required=("arch", "in_shape", "num_classes"), what="a model config (an object)")
CONFIG_SCHEMA = Obj({"format": OneOf((FORMAT,)), "model": MODEL_SCHEMA,
                     "weights_sha256": Nullable(Str(64, pattern="[0-9a-f]{64}", what="64 lowercase hex digits"))},
                    required=("model",), extra=Json(), what="an advlab checkpoint config (an object)")


def read_config(folder: Path) -> dict[str, Any]:
    """``config.json`` of a checkpoint folder, checked against :data:`CONFIG_SCHEMA`."""
    f = folder / CONFIG
    doc = read_json(f, max_bytes=MAX_CONFIG_BYTES)
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), dict):
        raise AdvlabError(f"{f}: not an advlab checkpoint config (no 'model' entry)")
    return validate(CONFIG_SCHEMA, doc, str(f))


def read_weights(folder: Path, expected_sha: str | None, *, trust_unverified: bool = False,
                 expected: Mapping[str, tuple[str, tuple[int, ...]]] | None = None) -> dict[str, torch.Tensor]:
    """Read ``model.safetensors`` after checking its header, then its sha256.

    Args:
        folder: the checkpoint folder.
        expected_sha: ``weights_sha256`` of ``config.json``. ``None`` (missing) is refused
            unless ``trust_unverified``, which loads the unverified weights with a warning.
        trust_unverified: accept a checkpoint without a hash (the CLI's ``--trust-unverified``).
        expected: name -> (safetensors dtype, shape) the header must declare, e.g. the
            architecture's state dict built on the meta device.
    """
    f = folder / WEIGHTS
    header = read_header(f)
    if expected is not None:
        expect_tensors(header, expected, f, f"the architecture in {CONFIG}")
    if expected_sha is None and not trust_unverified:
        raise AdvlabError(
            f"{folder / CONFIG}: has no weights_sha256, so {WEIGHTS} cannot be verified; refused "
            f"(pass trust_unverified=True, --trust-unverified on the command line, to load it anyway)"
        )
    blob = f.read_bytes()
    if expected_sha is None:
        warnings.warn(f"{f}: loaded WITHOUT verification ({CONFIG} has no weights_sha256); "
                      f"its weights may be corrupted or modified", UnverifiedWeightsWarning, stacklevel=3)
    elif sha256_bytes(blob) != expected_sha:
        raise AdvlabError(f"{f}: corrupted (sha256 does not match {CONFIG}); retrain or restore it")
    try:
        return st_load(blob)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise AdvlabError(f"{f}: not a readable safetensors file ({e})") from None


class UnverifiedWeightsWarning(UserWarning):
    """Weights loaded with ``trust_unverified=True`` from a checkpoint without a hash."""


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
            parts.append(f"unexpected {[u[:40] for u in unexpected[:3]]}")
        if shapes:
            k = shapes[0]
            parts.append(f"shape of {k}: config gives {tuple(own[k].shape)}, file has {tuple(state[k].shape)}")
        raise AdvlabError(f"{file}: weights do not match the architecture in {CONFIG} ({'; '.join(parts)})")
    model.load_state_dict(state, strict=True)


def _expected_state(model: nn.Module) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (safetensors dtype, shape) of a (meta) model's state dict."""
    return {k: (DTYPE_NAME.get(v.dtype, str(v.dtype)), tuple(v.shape)) for k, v in model.state_dict().items()}


def load_checkpoint(path: str | os.PathLike[str], device: str = "cpu", *, trust_unverified: bool = False,
                    max_params: int | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Load a checkpoint (or run) folder: the model in eval mode and its ``config.json``.

    Nothing is trusted: ``config.json`` is checked against :data:`CONFIG_SCHEMA` (and the
    architecture's arguments against :data:`advlab.models.KWARGS_SCHEMA`), the model is
    sized on the meta device and refused above ``max_params``, the safetensors header
    must declare exactly the architecture's tensors, and the weights' sha256 must match
    ``weights_sha256``. Only then is the model built and filled.

    Args:
        path: a checkpoint folder, or a run folder (its ``last/``).
        device: where the model goes.
        trust_unverified: load a checkpoint whose config has no ``weights_sha256``
            (with an :class:`UnverifiedWeightsWarning`); refused otherwise.
        max_params: bound on the model's elements (default: :func:`advlab.models.param_limit`).
    """
    from advlab.models import KWARGS_SCHEMA, build_model, config_of

    folder = checkpoint_folder(path)
    doc = read_config(folder)
    mc = doc["model"]
    where = folder / CONFIG
    kwargs = validate(KWARGS_SCHEMA[mc["arch"]], mc.get("kwargs") or {}, str(where), "model.kwargs")
    try:
        meta = build_model(mc["arch"], in_shape=mc["in_shape"], num_classes=mc["num_classes"],
                           kwargs=kwargs, device="meta", max_params=max_params)
    except AdvlabError as e:  # the size bound, or an architecture's own check of its inputs
        raise AdvlabError(f"{where}: model: {str(e).removeprefix('--model-kwargs: ')}") from None
    state = read_weights(folder, doc.get("weights_sha256"), trust_unverified=trust_unverified,
                         expected=_expected_state(meta))
    model = build_model(**config_of(meta), max_params=max_params)
    load_state(model, state, folder / WEIGHTS)
    return model.to(device).eval(), doc


def load_model(path: str | os.PathLike[str], device: str = "cpu", *, trust_unverified: bool = False,
               max_params: int | None = None) -> nn.Module:
    """Load a checkpoint folder or a run folder (its ``last/``) in eval mode.

    See :func:`load_checkpoint` for the checks and the arguments.
    """
    return load_checkpoint(path, device, trust_unverified=trust_unverified, max_params=max_params)[0]
