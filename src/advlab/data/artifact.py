"""Dataset artifacts: a folder with ``data.safetensors`` and ``card.json``.

``data.safetensors`` holds ``x`` (uint8 or float32, shape (N, C, H, W)) and ``y`` (int64,
shape (N,)), and optionally ``x_test`` / ``y_test`` for a test split. ``card.json``
holds the name, shapes, classes, provenance (source dataset, constructor and its
parameters, source-model checkpoint hash, seed, code version) and the sha256 of the
safetensors file. Loading verifies the hash and the shapes; nothing is unpickled.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from advlab.errors import AdvlabError
from advlab.store import atomic_path, atomic_write_json, read_json, sha256_file

DATA_FILE = "data.safetensors"
CARD_FILE = "card.json"
FORMAT = "advlab-dataset/1"


def code_version() -> str:
    from advlab import __version__

    return __version__


def is_artifact(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    return (p / DATA_FILE).is_file() and (p / CARD_FILE).is_file()


def save_artifact(
    out: str | os.PathLike[str],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    name: str,
    classes: list[str] | None = None,
    provenance: dict[str, Any] | None = None,
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    keep_float: bool = True,
) -> Path:
    """Write a dataset artifact atomically (tensors first, card last).

    Args:
        out: the artifact folder (created; must not be a file).
        x: images, float in [0, 1] or uint8, shape (N, C, H, W).
        y: int64 labels, shape (N,).
        name: dataset name shown in the card.
        classes: class names (default ``["0", ..., str(C-1)]``).
        provenance: how the data was made (constructor, parameters, source model hash, seed).
        x_test, y_test: optional test split stored beside the train split.
        keep_float: store float32 (constructed data: small perturbations die in uint8);
            if False and ``x`` is float, it is quantised to uint8.

    Returns:
        The artifact folder.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AdvlabError(f"--out: {str(out)!r} is an existing file; expected a folder")
    tensors: dict[str, torch.Tensor] = {}
    for split, (xs, ys) in {"": (x, y), "_test": (x_test, y_test)}.items():
        if xs is None or ys is None:
            continue
        if xs.ndim != 4:
            raise AdvlabError(f"x{split}: expected shape (N, C, H, W); got {tuple(xs.shape)}")
        if ys.shape != (xs.shape[0],):
            raise AdvlabError(
                f"y{split}: expected shape ({xs.shape[0]},) to match x; got {tuple(ys.shape)}"
            )
        if xs.dtype != torch.uint8:
            xs = xs.float() if keep_float else (xs.clamp(0, 1) * 255).round().to(torch.uint8)
        tensors["x" + split] = xs.detach().cpu().contiguous()
        tensors["y" + split] = ys.detach().cpu().to(torch.int64).contiguous()
    n_classes = int(max(int(t.max()) for k, t in tensors.items() if k.startswith("y")) + 1)
    classes = classes if classes is not None else [str(i) for i in range(n_classes)]
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / DATA_FILE) as tmp:
        save_file(tensors, str(tmp))
    card = {
        "format": FORMAT,
        "name": name,
        "shape": list(tensors["x"].shape[1:]),
        "dtype": str(tensors["x"].dtype).replace("torch.", ""),
        "n_train": int(tensors["x"].shape[0]),
        "n_test": int(tensors["x_test"].shape[0]) if "x_test" in tensors else 0,
        "classes": classes,
        "provenance": {"code_version": code_version(), **(provenance or {})},
        "sha256": sha256_file(out / DATA_FILE),
    }
    atomic_write_json(out / CARD_FILE, card)
    return out


def read_card(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    card = read_json(p / CARD_FILE)
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise AdvlabError(f"{p / CARD_FILE}: not an advlab dataset card (format {FORMAT!r})")
    return card


def load_artifact_raw(
    path: str | os.PathLike[str], split: str = "train"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one split of an artifact as stored, verifying the hash and the card.

    Returns:
        ``(x, y)``: x as stored (uint8 or float32), shape (N, C, H, W); y int64, shape (N,).
    """
    p = Path(path)
    if split not in ("train", "test"):
        raise AdvlabError(f"split: got {split!r}; expected 'train' or 'test'")
    if not is_artifact(p):
        raise AdvlabError(f"dataset: {str(p)!r} is not a dataset artifact (needs {DATA_FILE} and {CARD_FILE})")
    card = read_card(p)
    data_file = p / DATA_FILE
    digest = sha256_file(data_file)
    if digest != card.get("sha256"):
        raise AdvlabError(
            f"{data_file}: sha256 {digest[:12]}... does not match card.json "
            f"({str(card.get('sha256'))[:12]}...); the file is corrupted or was modified"
        )
    try:
        tensors = load_file(str(data_file))
    except (SafetensorError, OSError) as e:
        raise AdvlabError(f"{data_file}: cannot be read as safetensors ({e})") from None
    suffix = "" if split == "train" else "_test"
    if "x" + suffix not in tensors or "y" + suffix not in tensors:
        raise AdvlabError(f"split: got {split!r} but the artifact {p} has no {split!r} split")
    x, y = tensors["x" + suffix], tensors["y" + suffix]
    n_key = "n_train" if split == "train" else "n_test"
    if list(x.shape[1:]) != list(card.get("shape", [])) or x.shape[0] != card.get(n_key) or y.shape != (x.shape[0],):
        raise AdvlabError(
            f"{p / CARD_FILE}: card says {card.get(n_key)} x {card.get('shape')} but {DATA_FILE} holds "
            f"x {tuple(x.shape)}, y {tuple(y.shape)}"
        )
    if y.dtype != torch.int64:
        raise AdvlabError(f"{data_file}: labels must be int64; got {y.dtype}")
    if x.dtype not in (torch.uint8, torch.float32):
        raise AdvlabError(f"{data_file}: images must be uint8 or float32; got {x.dtype}")
    return x, y


def load_artifact(
    path: str | os.PathLike[str], split: str = "train"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one split of an artifact, verifying the hash and the card.

    Returns:
        ``(x, y)``: x float32 in [0, 1] (uint8 data is divided by 255; float data is
        returned as stored), shape (N, C, H, W); y int64, shape (N,).
    """
    x, y = load_artifact_raw(path, split)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    return x, y
