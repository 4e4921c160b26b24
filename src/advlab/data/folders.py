"""Datasets given as a folder: an advlab artifact or a released features-paper dataset.

The released constructed CIFAR datasets of Ilyas et al. (D_R, D_NR, D_rand, D_det) are
folders with ``CIFAR_ims`` (float images in [0, 1], N x 3 x 32 x 32) and ``CIFAR_lab``
(N labels), written with ``torch.save`` as a tensor or a list of tensors. They are read
only with ``torch.load(..., weights_only=True)``, which refuses any pickled object
other than tensors and containers; they hold one split (``train``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from advlab.data.artifact import (
    UNIT_RANGE,
    check_pixels,
    declared_range,
    is_artifact,
    read_artifact,
)
from advlab.data.real import CIFAR10_CLASSES
from advlab.data.source import Source
from advlab.errors import AdvlabError
from advlab.store import check_path

RELEASED_IMS, RELEASED_LAB = "CIFAR_ims", "CIFAR_lab"
RELEASED_SHAPE = (3, 32, 32)


def is_released(path: Path) -> bool:
    return os.path.isfile(path / RELEASED_IMS) and os.path.isfile(path / RELEASED_LAB)


def _reason(e: Exception) -> str:
    """The informative line of a torch.load error (e.g. 'Unsupported global: ...')."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith(("Unsupported", "Trying to", "Can only", "Weights only load failed")) and "PyTorch 2.6" not in ln:
            return ln[:160]
    return (lines[0][:160] if lines else "") or type(e).__name__


def _plain(t: torch.Tensor, path: Path) -> torch.Tensor:
    """``t`` if it is a dense, real, contiguous tensor that owns its elements."""
    if t.layout != torch.strided or t.is_quantized or t.is_complex() or t.is_nested:
        raise AdvlabError(f"{path}: expected a dense real tensor; got {t.layout}, {t.dtype}")
    if not t.is_contiguous() or t.untyped_storage().nbytes() < t.numel() * t.element_size():
        raise AdvlabError(f"{path}: expected a contiguous tensor (got strides {tuple(t.stride())[:5]})")
    return t.resolve_conj().resolve_neg()


def _torch_tensor_file(path: Path) -> torch.Tensor:
    """A tensor, or a list/tuple of tensors concatenated on dim 0, from a torch.save file."""
    check_path(path, "dataset")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols before refusing
            obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # UnpicklingError, zip errors, EOF, MemoryError: all mean "refused"
        raise AdvlabError(
            f"{path}: refused: not a plain torch tensor file ({_reason(e)}); "
            f"it is never unpickled beyond tensors"
        ) from None
    if isinstance(obj, list | tuple) and obj and all(isinstance(t, torch.Tensor) for t in obj):
        parts = [_plain(t, path) for t in obj]
        if len({(t.dtype, t.shape[1:]) for t in parts}) != 1 or any(t.ndim == 0 for t in parts):
            raise AdvlabError(f"{path}: its tensors differ in dtype or shape and cannot be concatenated")
        return torch.cat(parts)
    if isinstance(obj, torch.Tensor):
        return _plain(obj, path)
    raise AdvlabError(f"{path}: expected a tensor or a list of tensors; got {type(obj).__name__}")


def released_source(folder: Path, split: str) -> Source:
    """A released features-paper dataset (``CIFAR_ims`` / ``CIFAR_lab``); train split only.

    ``CIFAR_ims``: float images (N, 3, 32, 32), finite, in [0, 1]; ``CIFAR_lab``: integer
    labels (N,) in 0..9; N >= 1. Anything else is refused.
    """
    if split != "train":
        raise AdvlabError(
            f"split: got {split!r} but {folder} is a released features-paper dataset "
            f"(CIFAR_ims / CIFAR_lab) with a train split only; evaluate on cifar10's test split"
        )
    x = _torch_tensor_file(folder / RELEASED_IMS)
    y = _torch_tensor_file(folder / RELEASED_LAB)
    if x.ndim != 4 or tuple(x.shape[1:]) != RELEASED_SHAPE or x.shape[0] == 0:
        raise AdvlabError(f"{folder / RELEASED_IMS}: holds {tuple(x.shape)}; expected (N, 3, 32, 32) "
                          f"images with N >= 1")
    if tuple(y.shape) != (x.shape[0],):
        raise AdvlabError(f"{folder / RELEASED_LAB}: holds {tuple(y.shape)}; expected ({x.shape[0]},) "
                          f"labels, one per image of {RELEASED_IMS}")
    if x.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        raise AdvlabError(f"{folder / RELEASED_IMS}: expected float images in [0, 1]; got {x.dtype}")
    if y.is_floating_point() or y.dtype == torch.bool:
        raise AdvlabError(f"{folder / RELEASED_LAB}: expected integer labels in 0..9; got {y.dtype}")
    x, y = x.float(), y.to(torch.int64)
    check_pixels(x, UNIT_RANGE, str(folder / RELEASED_IMS))
    if int(y.min()) < 0 or int(y.max()) >= len(CIFAR10_CLASSES):
        raise AdvlabError(f"{folder / RELEASED_LAB}: expected integer labels in 0..9; got values "
                          f"from {int(y.min())} to {int(y.max())}")
    return Source.in_memory(str(folder), x, y, list(CIFAR10_CLASSES))


def artifact_source(folder: Path, split: str) -> Source:
    """An advlab dataset artifact (card, header, hash and data contract verified)."""
    x, y, card = read_artifact(folder, split)
    return Source.in_memory(card["name"], x, y, list(card["classes"]), declared_range(card))


def folder_source(folder: Path, split: str) -> Source:
    """Dispatch on the folder's content."""
    if is_artifact(folder):
        return artifact_source(folder, split)
    if is_released(folder):
        return released_source(folder, split)
    raise AdvlabError(
        f"dataset: folder {str(folder)!r} is neither an advlab dataset artifact "
        f"(data.safetensors + card.json) nor a released features-paper dataset (CIFAR_ims + CIFAR_lab)"
    )
