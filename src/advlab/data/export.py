"""Export any dataset name as an advlab artifact (what ``advlab datasets export`` does).

Both splits are written (the train split only for one-split datasets); images are kept
as stored (uint8 for real images, float32 otherwise) with the source's declared pixel
range, and the data contract of :func:`advlab.data.artifact.check_data` is enforced
before anything is written: a dataset with NaN, out-of-range pixels or bad labels is
refused, not rewritten.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from advlab.data.artifact import is_artifact, save_artifact
from advlab.data.registry import open_source
from advlab.errors import AdvlabError, bad_argument
from advlab.store import check_path


def check_export_out(out: str | os.PathLike[str], force: bool = False) -> Path:
    """``out`` if it may receive an artifact: new, empty, or an artifact with ``force``."""
    path = check_path(out, "out")
    if path.exists() and not path.is_dir():
        raise bad_argument("out", str(path), "a folder; it is an existing file")
    if path.is_dir() and any(path.iterdir()):
        if not is_artifact(path):
            raise bad_argument("out", str(path), "a new or empty folder; it is a non-empty folder "
                               "that is not a dataset artifact")
        if not force:
            raise bad_argument("out", str(path), "a new folder; it already holds an artifact "
                               "(force overwrites it: --force on the command line)")
    return path


def export_dataset(name: str, out: str | os.PathLike[str], *, data_root: str | os.PathLike[str] | None = None,
                   force: bool = False) -> dict[str, Any]:
    """Write dataset ``name`` (both splits) as an artifact in ``out``.

    Args:
        name: any dataset name (``mnist5k:0-6[:500]``, a folder, ...).
        out: a new or empty folder, or an existing artifact when ``force``.
        data_root: folder of real datasets (default ``$ADVLAB_DATA``).
        force: overwrite an existing artifact in ``out``.

    Returns:
        ``{"out", "name", "dtype", "n_train", "n_test"}``.
    """
    path = check_export_out(out, force)
    train = open_source(name, "train", data_root)
    try:
        test = open_source(name, "test", data_root)
    except AdvlabError as e:
        if not str(e).startswith("split:"):
            raise
        test = None  # one-split datasets (released sets) export their train split only
    x = train.raw()
    provenance = {"source_dataset": name, "constructor": "advlab datasets export",
                  "data_root": str(data_root) if data_root else None}
    save_artifact(path, x, train.labels, name=name, classes=train.classes, provenance=provenance,
                  x_test=test.raw() if test is not None else None,
                  y_test=test.labels if test is not None else None, value_range=train.value_range)
    return {"out": str(path), "name": name, "dtype": str(x.dtype).replace("torch.", ""),
            "n_train": len(train), "n_test": len(test) if test is not None else 0}
