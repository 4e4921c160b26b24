"""Dataset registry (provisional: mnist5k, digits and artifact folders).

The data helper extends this with the full name syntax of DESIGN.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from advlab.data.artifact import is_artifact, load_artifact
from advlab.data.embedded import load_digits, load_mnist5k
from advlab.errors import AdvlabError


def load_dataset(
    name: str, split: str = "train", data_root: str | os.PathLike[str] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a dataset by name.

    Returns:
        x float32 in [0, 1], shape (N, C, H, W); y int64, shape (N,).
    """
    if split not in ("train", "test"):
        raise AdvlabError(f"split: got {split!r}; expected 'train' or 'test'")
    if name == "mnist5k":
        return load_mnist5k(split)
    if name == "digits":
        return load_digits(split)
    if is_artifact(Path(name)):
        return load_artifact(name, split)
    raise AdvlabError(f"dataset: unknown dataset {name!r}")
