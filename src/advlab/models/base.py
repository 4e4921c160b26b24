"""Shared pieces of every classifier: input normalisation and the features/head split.

Every model maps images in [0, 1] of shape (N, C, H, W) to logits (N, K). Normalisation
lives inside the model, so attack budgets are always in pixel units. ``features(x)``
returns the penultimate representation (N, D), the input of the last linear layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from advlab.errors import AdvlabError


def _per_channel(value: float | Sequence[float], channels: int, name: str) -> list[float]:
    """Broadcast a scalar or a per-channel sequence to a list of ``channels`` floats."""
    if isinstance(value, int | float):
        return [float(value)] * channels
    vals = [float(v) for v in value]
    if len(vals) == 1:
        return vals * channels
    if len(vals) != channels:
        raise AdvlabError(f"{name}: got {vals!r}; expected 1 or {channels} values (one per channel)")
    return vals


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel; mean and std are buffers saved with the weights.

    Args:
        mean, std: a float or one float per channel.
        channels: C of the input (N, C, H, W).
    """

    mean: Tensor
    std: Tensor

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float], channels: int) -> None:
        super().__init__()
        m = _per_channel(mean, channels, "mean")
        s = _per_channel(std, channels, "std")
        if any(v <= 0 for v in s):
            raise AdvlabError(f"std: got {s!r}; expected positive values")
        self.register_buffer("mean", torch.tensor(m).view(1, channels, 1, 1))
        self.register_buffer("std", torch.tensor(s).view(1, channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class Classifier(nn.Module):
    """An image classifier ``head(body(normalize(x)))``.

    Subclasses build ``self.body`` (images (N, C, H, W) normalised -> (N, D)) and
    ``self.head`` (usually ``nn.Linear(D, K)``). ``config`` is filled in by
    :func:`advlab.models.build_model` so the model can be rebuilt from it alone.
    """

    config: dict[str, Any]
    body: nn.Module
    head: nn.Module

    def __init__(self, in_shape: tuple[int, int, int], mean: float | Sequence[float],
                 std: float | Sequence[float]) -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.normalize = Normalize(mean, std, in_shape[0])
        self.config = {}

    def features(self, x: Tensor) -> Tensor:
        """Penultimate representation: (N, C, H, W) in [0, 1] -> (N, D)."""
        return self.body(self.normalize(x))

    def forward(self, x: Tensor) -> Tensor:
        """Logits: (N, C, H, W) in [0, 1] -> (N, K)."""
        return self.head(self.features(x))


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Spatial size after a convolution or pooling layer."""
    return (size + 2 * padding - kernel) // stride + 1
