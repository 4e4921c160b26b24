"""CIFAR-10 from its official *binary* version, read without pickle.

Layout (what ``cifar-10-binary.tar.gz`` extracts to)::

    <root>/cifar-10-batches-bin/data_batch_1.bin .. data_batch_5.bin   (train, 5 x 10,000)
                                test_batch.bin                          (test, 10,000)
                                batches.meta.txt                        (the 10 class names)

Every ``.bin`` file is a sequence of 3,073-byte records: one label byte (0..9), then
the 32 x 32 red plane, the green plane and the blue plane, each row-major. The files
are read as plain bytes (no pickle): a size that is not a whole number of records, more
than 10,000 records in one file, a label above 9 or a ``batches.meta.txt`` that does not
name CIFAR-10's classes is refused with one line.

The Python version (``cifar-10-batches-py``) is a set of pickles and is never read:
when only it is present, the error says to get the binary version. A missing binary
version is downloaded from the dataset's page (md5-checked) unless
``ADVLAB_NO_DOWNLOAD=1``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch

from advlab.data.real import CIFAR10_CLASSES, fetch_or_explain, require_root
from advlab.data.source import Source
from advlab.errors import AdvlabError

FOLDER = "cifar-10-batches-bin"
PYTHON_FOLDER = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]
TEST_FILES = ["test_batch.bin"]
META_FILE = "batches.meta.txt"
SHAPE = (3, 32, 32)
RECORD = 1 + 3 * 32 * 32
#: records in one official batch file (a file may hold fewer: a tiny test copy)
MAX_RECORDS = 10_000
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"


def read_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One binary batch file: images uint8 (n, 3, 32, 32) and labels int64 (n,).

    Raises:
        AdvlabError: the file is empty, not a whole number of 3,073-byte records, holds
            more than 10,000 records, or has a label above 9.
    """
    size = path.stat().st_size
    if size == 0 or size % RECORD:
        raise AdvlabError(f"{path}: {size:,} bytes is not a whole number of CIFAR-10 records "
                          f"({RECORD:,} bytes each: 1 label byte + 3,072 pixel bytes)")
    if size // RECORD > MAX_RECORDS:
        raise AdvlabError(f"{path}: holds {size // RECORD:,} records; an official CIFAR-10 batch "
                          f"holds at most {MAX_RECORDS:,}")
    records = np.fromfile(path, dtype=np.uint8, count=size).reshape(-1, RECORD)
    labels = records[:, 0].astype(np.int64)
    if int(labels.max()) > 9:
        row = int(np.argmax(labels > 9))
        raise AdvlabError(f"{path}: record {row} has label {int(labels[row])}; CIFAR-10 labels are 0..9")
    images = np.ascontiguousarray(records[:, 1:]).reshape(-1, *SHAPE)
    return torch.from_numpy(images), torch.from_numpy(labels)


def check_meta(path: Path) -> None:
    """``batches.meta.txt`` must name CIFAR-10's ten classes in order (blank lines ignored)."""
    if path.stat().st_size > 4096:
        raise AdvlabError(f"{path}: {path.stat().st_size:,} bytes; CIFAR-10's class list is a few lines")
    try:
        names = [ln.strip() for ln in path.read_text(encoding="ascii").splitlines() if ln.strip()]
    except UnicodeDecodeError:
        raise AdvlabError(f"{path}: not a text file of class names") from None
    if names != CIFAR10_CLASSES:
        raise AdvlabError(f"{path}: names {names[:12]}; expected CIFAR-10's classes "
                          f"{', '.join(CIFAR10_CLASSES)}")


def _missing_message(root: Path) -> str:
    folder = root / FOLDER
    msg = (f"--data-root: no CIFAR-10 binary version under {root} (expected {folder}/"
           f"{TRAIN_FILES[0]} .. {TRAIN_FILES[-1]}, {TEST_FILES[0]}, {META_FILE})")
    if (root / PYTHON_FOLDER).is_dir():
        msg += (f"; {root / PYTHON_FOLDER} is the Python version, whose batches are pickles "
                f"that advlab never reads")
    return msg + f"; download the binary version {URL} (md5 {MD5}) and extract it into {root}"


def _download(root: Path) -> None:
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(URL, str(root), md5=MD5, remove_finished=True)


@functools.lru_cache(maxsize=4)
def _cifar10(root: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    base = Path(root)
    folder = base / FOLDER
    files = TRAIN_FILES if split == "train" else TEST_FILES
    present = all((folder / f).is_file() for f in [*TRAIN_FILES, *TEST_FILES, META_FILE])
    fetch_or_explain(lambda download: _download(base) if download else None, base, present,
                     _missing_message(base))
    for f in [*files, META_FILE]:
        if not (folder / f).is_file():
            raise AdvlabError(f"--data-root: the download left no {folder / f}")
    check_meta(folder / META_FILE)
    parts = [read_batch(folder / f) for f in files]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def cifar10_source(split: str, data_root: str | os.PathLike[str] | None) -> Source:
    """CIFAR-10 (binary version): 50,000 / 10,000 images of 3 x 32 x 32, uint8."""
    root = require_root(data_root, "cifar10", f"{FOLDER}/ (the binary version)")
    x, y = _cifar10(str(root.resolve()), split)
    return Source.in_memory("cifar10", x, y, list(CIFAR10_CLASSES))
