"""Put a model in eval mode for the duration of an attack and restore its mode after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Context manager: ``model.eval()`` inside, the original per-module modes restored after.

    Per-module flags are saved (not just the root's), so a model whose sub-modules were
    deliberately in different modes comes back exactly as it was.
    """
    saved = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in saved:
            m.training = training
