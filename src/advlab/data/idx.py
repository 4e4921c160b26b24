"""IDX files (the MNIST / Fashion-MNIST format) and the Fashion-MNIST loader.

An IDX file is: two zero bytes, a type byte (0x08 = unsigned byte), a byte with the
number of dimensions d, d big-endian uint32 sizes, then the values in C order. Files
may be gzip-compressed (``.gz``).
"""

from __future__ import annotations

import functools
import gzip
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advlab.data.source import Source
from advlab.errors import AdvlabError

FASHION_DEFAULT = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_DTYPES: dict[int, np.dtype[Any]] = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
           0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise AdvlabError(f"{path}: truncated or corrupted gzip file ({e}); download it again") from None
    except OSError as e:
        raise AdvlabError(f"{path}: cannot be read ({e.strerror or e})") from None


def parse_idx(data: bytes, path: str | os.PathLike[str] = "<bytes>") -> np.ndarray:
    """Decode the bytes of an IDX file.

    Args:
        data: the whole (uncompressed) file.
        path: used in error messages only.

    Returns:
        The array with the file's dims and dtype (native byte order).
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise AdvlabError(f"{path}: not an IDX file (bad magic number {data[:4].hex()!r})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise AdvlabError(f"{path}: truncated IDX header ({len(data)} bytes)")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = _DTYPES[data[2]]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise AdvlabError(
            f"{path}: {what}: header says dims {dims} ({expected} bytes) but the file has "
            f"{len(data)} bytes; download it again"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain); errors name the file."""
    return parse_idx(_read_bytes(Path(path)), path)


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def fashion_folder(data_root: str | os.PathLike[str] | None) -> Path:
    """The folder holding the Fashion-MNIST IDX files.

    An explicit ``data_root`` is searched alone (``<root>/fashion-mnist``,
    ``<root>/FashionMNIST/raw``, ``<root>``); otherwise ``$ADVLAB_DATA`` the same way, then
    the Debian package's ``/usr/share/datasets/fashion-mnist``.
    """
    roots = [Path(data_root)] if data_root else []
    if not data_root and os.environ.get("ADVLAB_DATA"):
        roots.append(Path(os.environ["ADVLAB_DATA"]))
    candidates = [r / sub for r in roots for sub in ("fashion-mnist", "FashionMNIST/raw", ".")]
    if not data_root:
        candidates.append(FASHION_DEFAULT)
    for c in candidates:
        if all(_find(c, s) is not None for pair in _FILES.values() for s in pair):
            return c
    where = ", ".join(str(c) for c in candidates)
    arg = "--data-root" if data_root else "fashion-mnist"
    raise AdvlabError(
        f"{arg}: no Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz] etc.) found in {where}; "
        f"install the Debian package dataset-fashion-mnist or pass --data-root"
    )


@functools.lru_cache(maxsize=8)
def _decode_pair(images: str, labels: str, _stamp: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoded (x uint8 (N, 1, H, W), y int64 (N,)), cached per file version."""
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise AdvlabError(
            f"{images}: holds {x.shape} images but {labels} holds {y.shape} labels; "
            f"expected (N, H, W) and (N,)"
        )
    return torch.from_numpy(x.astype(np.uint8))[:, None], torch.from_numpy(y.astype(np.int64))


def load_idx_pair(folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of one split from MNIST-style IDX files in ``folder``."""
    paths = [_find(folder, s) for s in _FILES[split]]
    if any(p is None for p in paths):
        raise AdvlabError(f"--data-root: {folder} lacks {' / '.join(_FILES[split])}")
    img, lab = (p for p in paths if p is not None)
    stamp = tuple(v for p in (img, lab) for v in (p.stat().st_size, p.stat().st_mtime_ns))
    return _decode_pair(str(img.resolve()), str(lab.resolve()), stamp)


def fashion_source(split: str, data_root: str | os.PathLike[str] | None) -> Source:
    """Fashion-MNIST, 60,000 / 10,000 images of 1 x 28 x 28, 10 classes."""
    x, y = load_idx_pair(fashion_folder(data_root), split)
    if int(y.max()) >= len(FASHION_CLASSES) or int(y.min()) < 0:
        raise AdvlabError(f"fashion-mnist: labels outside 0..9 in the {split} split")
    return Source.in_memory("fashion-mnist", x, y, list(FASHION_CLASSES))
