"""IDX files (the MNIST / Fashion-MNIST format) and the Fashion-MNIST loader.

An IDX file is: two zero bytes, a type byte (0x08 = unsigned byte), a byte with the
number of dimensions d, d big-endian uint32 sizes, then the values in C order. Files
may be gzip-compressed (``.gz``).
"""

from __future__ import annotations

import functools
import gzip
import io
import math
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advlab.data.source import Source
from advlab.errors import AdvlabError
from advlab.store import check_path

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


#: The most bytes an IDX payload may declare (1 GiB; Fashion-MNIST's train images: 47 MB).
MAX_IDX_BYTES = 1 << 30
UBYTE = 0x08
GZ_RATIO = 1032  # deflate's largest compression ratio
_CHUNK = 1 << 20


def _header(f: io.BufferedIOBase, path: str | os.PathLike[str]) -> tuple[int, tuple[int, ...], int]:
    """Read the header: (type code, dims, header length); checks the magic and the dims."""
    magic = f.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _DTYPES:
        raise AdvlabError(f"{path}: not an IDX file (bad magic number {magic.hex()!r})")
    ndim = magic[3]
    raw = f.read(4 * ndim)
    if ndim == 0 or len(raw) < 4 * ndim:
        raise AdvlabError(f"{path}: truncated IDX header ({4 + len(raw)} bytes)")
    dims = tuple(int.from_bytes(raw[4 * i: 4 * i + 4], "big") for i in range(ndim))
    if 0 in dims:
        raise AdvlabError(f"{path}: header says dims {dims}: an IDX file with 0 items (or an empty "
                          f"dimension) holds no data")
    return magic[2], dims, 4 + 4 * ndim


def _payload(f: io.BufferedIOBase, n: int, total: int, path: str | os.PathLike[str]) -> bytearray:
    """Exactly ``n`` bytes, then EOF; reading stops one byte past ``n`` (gz streams too).

    The buffer grows with the data actually read, so a header that overstates a short
    stream costs no memory.
    """
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(_CHUNK, n - len(buf)))
        if not chunk:
            raise AdvlabError(f"{path}: truncated: header says {total} bytes but the data ends "
                              f"after {total - n + len(buf)}; download it again")
        buf += chunk
    if f.read(1):
        raise AdvlabError(f"{path}: longer than its header says: the data goes on past the {total} "
                          f"bytes the header declares; download it again")
    return buf


def _checked_header(f: io.BufferedIOBase, path: str | os.PathLike[str], size: int | None,
                    expect: tuple[int, int] | None, max_bytes: int) -> tuple[tuple[int, ...], np.dtype[Any], int]:
    """(dims, dtype, payload bytes) of a header checked against ``expect``, the cap and the size."""
    code, dims, header = _header(f, path)
    if expect is not None and (code, len(dims)) != expect:
        raise AdvlabError(
            f"{path}: IDX type 0x{code:02X} with {len(dims)} dims; expected type 0x{expect[0]:02X} "
            f"(unsigned bytes) with {expect[1]} dims (other types would wrap when cast to uint8)"
        )
    dtype = _DTYPES[code]
    n = math.prod(dims) * dtype.itemsize  # exact: Python ints do not overflow
    if n > max_bytes:
        raise AdvlabError(f"{path}: header says dims {dims} ({n} bytes), more than this file can "
                          f"hold (at most {max_bytes} bytes)")
    if size is not None and size != header + n:
        what = "truncated" if size < header + n else "longer than its header says"
        raise AdvlabError(f"{path}: {what}: header says dims {dims} ({header + n} bytes) but the "
                          f"file has {size} bytes; download it again")
    return dims, dtype, n


def _decode(f: io.BufferedIOBase, path: str | os.PathLike[str], size: int | None,
            expect: tuple[int, int] | None, max_bytes: int) -> np.ndarray:
    """Decode one IDX stream; ``size`` is the file's size when it is not compressed."""
    dims, dtype, n = _checked_header(f, path, size, expect, max_bytes)
    arr = np.frombuffer(_payload(f, n, f.tell() + n, path), dtype=dtype).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def check_idx_file(path: str | os.PathLike[str], expect: tuple[int, int] | None = None,
                   max_bytes: int = MAX_IDX_BYTES) -> tuple[int, ...]:
    """Check a plain IDX file's header against its size without reading the payload.

    Returns:
        The dims the header declares.
    """
    p = check_path(path, "data_root")
    try:
        with open(p, "rb") as f:
            return _checked_header(f, p, os.fstat(f.fileno()).st_size, expect, max_bytes)[0]
    except OSError as e:
        raise AdvlabError(f"{p}: cannot be read ({e.strerror or e})") from None


def parse_idx(data: bytes, path: str | os.PathLike[str] = "<bytes>") -> np.ndarray:
    """Decode the bytes of an IDX file.

    Args:
        data: the whole (uncompressed) file.
        path: used in error messages only.

    Returns:
        The array with the file's dims and dtype (native byte order).
    """
    return _decode(io.BytesIO(data), path, len(data), None, MAX_IDX_BYTES)


def read_idx(path: str | os.PathLike[str], expect: tuple[int, int] | None = None,
             max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain); errors name the file.

    The header is checked before the payload is read: against the file's size (plain
    files) or as a cap on how much of a ``.gz`` stream is inflated, so a small ``.gz``
    that inflates to more than its header says is refused after at most that many bytes.

    Args:
        path: the file.
        expect: (type code, number of dims) the caller needs, e.g. ``(0x08, 3)`` for images.
        max_bytes: the largest payload accepted.
    """
    p = check_path(path, "data_root")
    try:
        if p.suffix == ".gz":
            # deflate inflates at most 1032:1, so the .gz's size also bounds what it can hold
            bound = min(max_bytes, GZ_RATIO * os.stat(p).st_size + 4096)
            with gzip.open(p, "rb") as f:
                return _decode(f, p, None, expect, bound)
        with open(p, "rb") as f:
            return _decode(f, p, os.fstat(f.fileno()).st_size, expect, max_bytes)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise AdvlabError(f"{p}: truncated or corrupted gzip file ({e}); download it again") from None
    except OSError as e:
        raise AdvlabError(f"{p}: cannot be read ({e.strerror or e})") from None


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if os.path.isfile(folder / name):
            return folder / name
    return None


def fashion_folder(data_root: str | os.PathLike[str] | None) -> Path:
    """The folder holding the Fashion-MNIST IDX files.

    An explicit ``data_root`` is searched alone (``<root>/fashion-mnist``,
    ``<root>/FashionMNIST/raw``, ``<root>``); otherwise ``$ADVLAB_DATA`` the same way, then
    the Debian package's ``/usr/share/datasets/fashion-mnist``.
    """
    roots = [check_path(data_root, "data_root")] if data_root else []
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
    x, y = read_idx(images, (UBYTE, 3)), read_idx(labels, (UBYTE, 1))
    if x.shape[0] != y.shape[0]:
        raise AdvlabError(
            f"{images}: holds {x.shape} images but {labels} holds {y.shape} labels; "
            f"expected (N, H, W) and (N,)"
        )
    return torch.from_numpy(x.astype(np.uint8, copy=False))[:, None], torch.from_numpy(y.astype(np.int64))


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
