"""Datasets given as a folder: an advlab artifact or a released features-paper dataset.

The released constructed CIFAR datasets of Ilyas et al. (D_R, D_NR, D_rand, D_det) are
folders with ``CIFAR_ims`` (float images in [0, 1], N x 3 x 32 x 32) and ``CIFAR_lab``
(N labels), written with ``torch.save`` as a tensor or a list of tensors. They are read
only with ``torch.load(..., weights_only=True)``, which refuses any pickled object
other than tensors and containers; they hold one split (``train``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from advlab.data.artifact import is_artifact, load_artifact_raw, read_card
from advlab.data.real import CIFAR10_CLASSES
from advlab.data.source import Source
from advlab.errors import AdvlabError

RELEASED_IMS, RELEASED_LAB = "CIFAR_ims", "CIFAR_lab"


def is_released(path: Path) -> bool:
    return (path / RELEASED_IMS).is_file() and (path / RELEASED_LAB).is_file()


def _reason(e: Exception) -> str:
    """The informative line of a torch.load error (e.g. 'Unsupported global: ...')."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith(("Unsupported", "Trying to", "Can only", "Weights only load failed")) and "PyTorch 2.6" not in ln:
            return ln[:160]
    return (lines[0][:160] if lines else "") or type(e).__name__


def _torch_tensor_file(path: Path) -> torch.Tensor:
    """A tensor, or a list/tuple of tensors concatenated on dim 0, from a torch.save file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols before refusing
            obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # UnpicklingError, zip errors, EOF: all mean "refused"
        raise AdvlabError(
            f"{path}: refused: not a plain torch tensor file ({_reason(e)}); "
            f"it is never unpickled beyond tensors"
        ) from None
    if isinstance(obj, list | tuple) and obj and all(isinstance(t, torch.Tensor) for t in obj):
        try:
            return torch.cat([t.cpu() for t in obj])
        except RuntimeError as e:
            raise AdvlabError(f"{path}: its tensors cannot be concatenated ({e})") from None
    if isinstance(obj, torch.Tensor):
        return obj
    raise AdvlabError(f"{path}: expected a tensor or a list of tensors; got {type(obj).__name__}")


def released_source(folder: Path, split: str) -> Source:
    """A released features-paper dataset (``CIFAR_ims`` / ``CIFAR_lab``); train split only."""
    if split != "train":
        raise AdvlabError(
            f"split: got {split!r} but {folder} is a released features-paper dataset "
            f"(CIFAR_ims / CIFAR_lab) with a train split only; evaluate on cifar10's test split"
        )
    x = _torch_tensor_file(folder / RELEASED_IMS)
    y = _torch_tensor_file(folder / RELEASED_LAB)
    if x.ndim != 4 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise AdvlabError(
            f"{folder}: {RELEASED_IMS} holds {tuple(x.shape)} and {RELEASED_LAB} {tuple(y.shape)}; "
            f"expected (N, C, H, W) images and (N,) labels"
        )
    if not x.is_floating_point() or float(x.min()) < 0.0 or float(x.max()) > 1.0:
        raise AdvlabError(f"{folder / RELEASED_IMS}: expected float images in [0, 1]")
    if y.is_floating_point() or int(y.min()) < 0 or int(y.max()) >= len(CIFAR10_CLASSES):
        raise AdvlabError(f"{folder / RELEASED_LAB}: expected integer labels in 0..9")
    return Source.in_memory(str(folder), x.float(), y.to(torch.int64), list(CIFAR10_CLASSES))


def artifact_source(folder: Path, split: str) -> Source:
    """An advlab dataset artifact (hash and card verified)."""
    x, y = load_artifact_raw(folder, split)
    card = read_card(folder)
    n_classes = max(int(y.max()) + 1 if len(y) else 0, len(card.get("classes") or []))
    classes = list(card.get("classes") or [])
    classes += [str(i) for i in range(len(classes), n_classes)]
    return Source.in_memory(str(card.get("name", folder)), x, y, classes)


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
