"""MFA initialisation: k-means++ / Lloyd clustering, then one PPCA per cluster."""

from __future__ import annotations

import torch
from torch import Tensor

from advlab.errors import AdvlabError


def _sq_dists(x: Tensor, c: Tensor) -> Tensor:
    """Squared Euclidean distances (N, d) x (K, d) -> (N, K), clamped at 0."""
    return ((x.square().sum(1, keepdim=True) - 2.0 * x @ c.T)
            + c.square().sum(1)[None, :]).clamp_min(0.0)


def kmeans(x: Tensor, k: int, generator: torch.Generator, n_iter: int = 30,
           n_init: int = 4) -> Tensor:
    """k-means++ seeding followed by Lloyd iterations; best of ``n_init`` restarts.

    Args:
        x: (N, d) data with N >= k.
        k: number of clusters.
        generator: torch generator on x's device (reproducibility).
    Returns:
        (N,) int64 cluster labels of the restart with the lowest inertia.
    """
    best, best_inertia = None, float("inf")
    for _ in range(n_init):
        labels, inertia = _lloyd(x, k, generator, n_iter)
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    assert best is not None
    return best


def _lloyd(x: Tensor, k: int, generator: torch.Generator, n_iter: int) -> tuple[Tensor, float]:
    """One k-means++ seeding and Lloyd run: labels (N,) and inertia (sum of sq. distances)."""
    n = x.shape[0]
    first = torch.randint(n, (1,), generator=generator, device=x.device)
    centers = [x[first[0]]]
    d2 = _sq_dists(x, centers[0][None]).squeeze(1)
    for _ in range(1, k):
        p = d2 / d2.sum() if float(d2.sum()) > 0 else torch.full_like(d2, 1.0 / n)
        idx = torch.multinomial(p, 1, generator=generator)[0]
        centers.append(x[idx])
        d2 = torch.minimum(d2, _sq_dists(x, x[idx][None]).squeeze(1))
    c = torch.stack(centers)
    labels = torch.zeros(n, dtype=torch.long, device=x.device)
    for it in range(n_iter):
        dist = _sq_dists(x, c)
        new = dist.argmin(1)
        if it > 0 and bool((new == labels).all()):
            break
        labels = new
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(c).index_add_(0, labels, x)
        empty = counts == 0
        if bool(empty.any()):  # re-seed empty clusters at the worst-fitted points
            far = dist.gather(1, labels[:, None]).squeeze(1).topk(int(empty.sum())).indices
            sums[empty], counts[empty] = x[far], 1
        c = sums / counts[:, None].to(x.dtype)
    labels = _sq_dists(x, c).argmin(1)
    return labels, float(_sq_dists(x, c).gather(1, labels[:, None]).sum())


def ppca(xc: Tensor, n_factors: int, floor: float) -> tuple[Tensor, Tensor, Tensor]:
    """Probabilistic PCA of one cluster (Tipping & Bishop): mean, loadings, isotropic noise.

    Args:
        xc: (n, d) points of one cluster, n >= n_factors + 1.
        n_factors: l.
        floor: variance floor for the noise.
    Returns:
        mean (d,), loadings A (d, l) = U (Lambda - s2)^(1/2), noise (d,) filled with s2.
    """
    n, d = xc.shape
    mu = xc.mean(0)
    centred = xc - mu
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    eig = s.square() / n                                                   # (min(n,d),)
    top = eig[:n_factors]
    rest = (centred.square().sum() / n - top.sum()) / max(d - n_factors, 1)
    s2 = torch.clamp(rest, min=floor)
    a = vh[:n_factors].T * torch.sqrt(torch.clamp(top - s2, min=0.0))[None, :]
    if a.shape[1] < n_factors:  # fewer points than factors cannot happen (checked)
        a = torch.cat([a, a.new_zeros(d, n_factors - a.shape[1])], 1)
    return mu, a, torch.full((d,), float(s2), dtype=xc.dtype, device=xc.device)


def init_params(x: Tensor, n_components: int, n_factors: int, floor: float,
                generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Cluster ``x`` (N, d) by k-means and fit PPCA per cluster.

    Returns:
        weights (K,), means (K, d), factors (K, d, l), noise (K, d).
    Raises:
        AdvlabError: when a cluster has fewer than n_factors + 1 points.
    """
    n = x.shape[0]
    labels = kmeans(x, n_components, generator)
    counts = torch.bincount(labels, minlength=n_components)
    smallest = int(counts.min())
    if smallest < n_factors + 1:
        bad = int(counts.argmin())
        suggest = max(1, n // (10 * (n_factors + 1)))
        raise AdvlabError(
            f"n_components: got {n_components}; k-means cluster {bad} has {smallest} of "
            f"{n} points, fewer than n_factors + 1 = {n_factors + 1}, so its factor "
            f"analyser is undetermined; use fewer components (about {suggest} here, or "
            f"n_samples // 1000 as the paper does for CelebA) or fewer n_factors")
    parts = [ppca(x[labels == k], n_factors, floor) for k in range(n_components)]
    means = torch.stack([p[0] for p in parts])
    factors = torch.stack([p[1] for p in parts])
    noise = torch.stack([p[2] for p in parts])
    weights = counts.to(x.dtype) / n
    return weights, means, factors, noise


__all__ = ["kmeans", "ppca", "init_params"]
