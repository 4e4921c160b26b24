"""A multi-class linear classifier with closed-form robustness, shared by the attack tests."""

from __future__ import annotations

import torch
from torch import nn


class LinearK(nn.Module):
    """Multi-class linear classifier z = W x + b on flattened inputs."""

    def __init__(self, d: int = 16, k: int = 4, seed: int = 3) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.lin = nn.Linear(d, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.flatten(1))

    def _gaps(self, x: torch.Tensor, y: torch.Tensor, norm: str) -> tuple[torch.Tensor, torch.Tensor]:
        """z_j - z_y (N, K) and the dual norms of w_j - w_y (N, K)."""
        w = self.lin.weight.detach()
        with torch.no_grad():
            z = self(x)
        dw = w[None, :, :] - w[y][:, None, :]  # (N, K, d)
        dual = dw.norm(dim=2) if norm == "l2" else dw.abs().sum(dim=2)
        return z - z.gather(1, y[:, None]), dual

    def worst_margin(self, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "l2") -> torch.Tensor:
        """max over j != y of the largest z_j - z_y in the ball (no box): (N,). > 0 iff fooled."""
        gap, dual = self._gaps(x, y, norm)
        return (gap + eps * dual).scatter(1, y[:, None], float("-inf")).amax(dim=1)

    def distance(self, x: torch.Tensor, y: torch.Tensor, norm: str) -> torch.Tensor:
        """Distance (N,) to the nearest boundary z_j = z_y (no box)."""
        gap, dual = self._gaps(x, y, norm)
        return (-gap / dual.clamp_min(1e-12)).scatter(1, y[:, None], float("inf")).amin(dim=1)
