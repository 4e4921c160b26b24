"""Restricted ImageNet: the 9 super-classes of Table 2 of the features paper.

Reads an ImageNet ``ImageFolder`` tree: ``<root>/imagenet/{train,val}/<wnid>/*.JPEG``
(or ``<root>/{train,val}/...``). The 1,000 wnid folders, sorted, give class indices
0..999 as torchvision does; images of the classes in the inclusive ranges below are
kept and relabelled with their super-class; every other image is dropped. ``train``
reads ``train/``, ``test`` reads ``val/`` (which must be sorted into wnid folders).

Images are resized so the short side is 256 and center-cropped to 224 x 224 (the
evaluation transform of the paper's code): RGB, 3 x 224 x 224, uint8.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from advlab.data.real import require_root
from advlab.data.source import Source
from advlab.errors import AdvlabError
from advlab.progress import progress

RESIZE, CROP = 256, 224
# (super-class, first ImageNet class, last ImageNet class), inclusive - Table 2.
RANGES = [
    ("dog", 151, 268), ("cat", 281, 285), ("frog", 30, 32), ("turtle", 33, 37),
    ("bird", 80, 100), ("primate", 365, 382), ("fish", 389, 397), ("crab", 118, 121),
    ("insect", 300, 319),
]
CLASSES = [r[0] for r in RANGES]


def super_class_map() -> torch.Tensor:
    """ImageNet class index (0..999) -> super-class index (0..8), or -1; shape (1000,)."""
    m = torch.full((1000,), -1, dtype=torch.int64)
    for k, (_, lo, hi) in enumerate(RANGES):
        m[lo: hi + 1] = k
    return m


def _tree(root: Path, split: str) -> Path:
    sub = "train" if split == "train" else "val"
    for base in (root / "imagenet", root):
        if (base / sub).is_dir():
            return base / sub
    raise AdvlabError(
        f"--data-root: no ImageNet {sub}/ folder under {root} (expected {root}/imagenet/{sub}/"
        f"<wnid>/*.JPEG); ImageNet cannot be downloaded automatically: get ILSVRC2012 from "
        f"image-net.org and sort val/ into wnid folders"
    )


@functools.lru_cache(maxsize=2)
def _index(tree: str) -> tuple[list[str], torch.Tensor]:
    """(paths, super-class labels) of the images of the 9 super-classes in ``tree``."""
    from torchvision.datasets import ImageFolder

    try:
        ds = ImageFolder(tree, allow_empty=True)
    except (FileNotFoundError, OSError) as e:
        raise AdvlabError(f"--data-root: {tree} is not an ImageNet ImageFolder tree ({e})") from None
    if len(ds.classes) != 1000:
        raise AdvlabError(
            f"--data-root: {tree} has {len(ds.classes)} class folders; expected the 1,000 "
            f"ImageNet wnid folders (sorted, they give class indices 0..999)"
        )
    mapping = super_class_map()
    targets = mapping[torch.as_tensor(ds.targets, dtype=torch.int64)]
    keep = torch.nonzero(targets >= 0).flatten().tolist()
    return [ds.samples[i][0] for i in keep], targets[keep]


def _decode(paths: list[str], idx: torch.Tensor) -> torch.Tensor:
    """Decode images at ``idx`` to uint8 (k, 3, 224, 224)."""
    from PIL import Image
    from torchvision.transforms import functional as F

    out = torch.empty((len(idx), 3, CROP, CROP), dtype=torch.uint8)
    for j, i in enumerate(progress(idx.tolist(), desc="imagenet images")):
        try:
            with Image.open(paths[i]) as im:
                img = F.center_crop(F.resize(im.convert("RGB"), RESIZE, antialias=True), [CROP, CROP])
        except OSError as e:
            raise AdvlabError(f"{paths[i]}: cannot be decoded as an image ({e})") from None
        out[j] = F.pil_to_tensor(img)
    return out


def restricted_imagenet_source(split: str, data_root: str | os.PathLike[str] | None) -> Source:
    """Restricted ImageNet (9 classes); images decoded only when fetched."""
    root = require_root(data_root, "restricted-imagenet", "imagenet/train/<wnid>/ and imagenet/val/<wnid>/")
    paths, labels = _index(str(_tree(root, split).resolve()))
    return Source("restricted-imagenet", labels, list(CLASSES), torch.arange(len(labels)),
                  lambda idx: _decode(paths, idx))
