"""advlab: a laboratory for the science of adversarial examples.

Public API (stable names)::

    x, y = advlab.load_dataset("mnist5k", split="train")   # float32 (N,C,H,W) in [0,1], int64
    model = advlab.load_model("runs/cnn")                   # nn.Module (last/), eval mode, CPU
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from advlab.provenance import __version__

if TYPE_CHECKING:
    import os

    import torch


def load_dataset(
    name: str, split: str = "train", data_root: str | os.PathLike[str] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a dataset by name (see ``advlab datasets list``).

    Returns:
        x float32 in [0, 1], shape (N, C, H, W); y int64, shape (N,).
    """
    from advlab.data.registry import load_dataset as _load

    return _load(name, split=split, data_root=data_root)


def load_model(path: str | os.PathLike[str], device: str = "cpu", *, trust_unverified: bool = False,
               max_params: int | None = None) -> Any:
    """Load a checkpoint folder (``model.safetensors`` + ``config.json``) as an eval-mode model.

    A run folder gives its ``last/``. A checkpoint without ``weights_sha256`` is refused
    unless ``trust_unverified=True``; models above ``max_params`` elements are refused
    (see :func:`advlab.models.checkpoint.load_checkpoint`).
    """
    from advlab.models.checkpoint import load_model as _load

    return _load(path, device=device, trust_unverified=trust_unverified, max_params=max_params)


__all__ = ["load_dataset", "load_model", "__version__"]
