"""The shared ``mnist5k_cnn`` fixture: a standard CNN good enough for attack tests."""

from __future__ import annotations

import torch

import advlab


def test_mnist5k_cnn_fixture_reaches_95_percent(mnist5k_cnn: torch.nn.Module) -> None:
    x, y = advlab.load_dataset("mnist5k", "test")
    with torch.no_grad():
        acc = (mnist5k_cnn(x).argmax(1) == y).float().mean().item()
    assert acc >= 0.95
    assert not mnist5k_cnn.training
    assert mnist5k_cnn.features(x[:3]).shape == (3, 128)
