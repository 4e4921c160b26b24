"""Real datasets from the user's data root: MNIST (read by torchvision) and the helpers
every real-dataset reader shares (the data root, downloads, CIFAR-10's class names).

Data-root conventions are torchvision's: ``<root>/MNIST/raw/*-ubyte``. When the files
are missing, a download is attempted (unless ``ADVLAB_NO_DOWNLOAD=1``) and any failure
becomes one :class:`AdvlabError`; folders the failed attempt created are removed again.
CIFAR-10 is read from its binary version by :mod:`advlab.data.cifar` (no pickle).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from advlab.data.idx import UBYTE, check_idx_file
from advlab.data.source import Source
from advlab.errors import AdvlabError
from advlab.store import check_path

CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]
MNIST_FILES = [f"{p}-{k}-idx{d}-ubyte" for p in ("train", "t10k") for k, d in (("images", 3), ("labels", 1))]


def require_root(data_root: str | os.PathLike[str] | None, dataset: str, layout: str) -> Path:
    """The data root (argument, else ``$ADVLAB_DATA``); an AdvlabError when there is none."""
    root = data_root or os.environ.get("ADVLAB_DATA")
    if not root:
        raise AdvlabError(
            f"--data-root: {dataset} needs a data root holding {layout}; "
            f"pass --data-root DIR (data_root=...) or set ADVLAB_DATA"
        )
    path = check_path(root, "data_root")
    if not path.is_dir():
        raise AdvlabError(f"--data-root: got {str(root)!r}, which is not a folder")
    return path


def downloads_allowed() -> bool:
    return os.environ.get("ADVLAB_NO_DOWNLOAD", "") in ("", "0")


@contextlib.contextmanager
def _cleanup_on_failure(root: Path) -> Iterator[None]:
    """Remove the top-level entries of ``root`` created inside the block if it fails."""
    before = set(os.listdir(root))
    try:
        yield
    except BaseException:
        for name in set(os.listdir(root)) - before:
            p = root / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        raise


def fetch_or_explain(
    make: Callable[[bool], Any], root: Path, present: bool, missing_msg: str
) -> Any:
    """Build a torchvision dataset, downloading only when files are missing.

    Args:
        make: ``make(download)`` builds the torchvision dataset.
        root: the data root (entries created by a failed download are removed).
        present: whether the needed files are all there.
        missing_msg: the error's text when files are missing and cannot be downloaded.
    """
    if present:
        return make(False)
    if not downloads_allowed():
        raise AdvlabError(missing_msg + " (downloads are off: ADVLAB_NO_DOWNLOAD is set)")
    try:
        with _cleanup_on_failure(root):
            return make(True)
    except Exception as e:  # network, disk, archive errors: all become one line
        reason = f"{type(e).__name__}: {e}".splitlines()[0][:200]
        raise AdvlabError(f"{missing_msg}; the download failed ({reason})") from None


@functools.lru_cache(maxsize=4)
def _mnist(root: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST

    raw = Path(root) / "MNIST" / "raw"
    present = all((raw / f).is_file() for f in MNIST_FILES)
    msg = (
        f"--data-root: no MNIST found under {root} (expected {raw}/train-images-idx3-ubyte etc.); "
        f"download it with torchvision.datasets.MNIST({root!r}, download=True) on a machine "
        f"with internet and copy the MNIST folder there"
    )
    if present:  # headers against sizes, before torchvision reads whole files
        prefix = "train" if split == "train" else "t10k"
        n_img = check_idx_file(raw / f"{prefix}-images-idx3-ubyte", (UBYTE, 3))[0]
        n_lab = check_idx_file(raw / f"{prefix}-labels-idx1-ubyte", (UBYTE, 1))[0]
        if n_img != n_lab:
            raise AdvlabError(f"{raw}: MNIST {split} holds {n_img} images but {n_lab} labels")
    try:
        ds = fetch_or_explain(lambda d: MNIST(root, train=split == "train", download=d), Path(root), present, msg)
    except AdvlabError:
        raise
    except (RuntimeError, ValueError, AssertionError, TypeError) as e:
        raise AdvlabError(f"--data-root: the MNIST files under {raw} are unreadable or truncated ({e})") from None
    x, y = ds.data, ds.targets
    if x.ndim != 3 or x.dtype != torch.uint8 or y.shape != (x.shape[0],):
        raise AdvlabError(f"{raw}: MNIST {split} images {tuple(x.shape)} do not match labels {tuple(y.shape)}")
    return x[:, None].contiguous(), y.to(torch.int64)


def mnist_source(split: str, data_root: str | os.PathLike[str] | None) -> Source:
    """MNIST through torchvision: 60,000 / 10,000 images of 1 x 28 x 28, uint8."""
    root = require_root(data_root, "mnist", "MNIST/raw/train-images-idx3-ubyte etc.")
    x, y = _mnist(str(root.resolve()), split)
    return Source.in_memory("mnist", x, y, [str(i) for i in range(10)])
