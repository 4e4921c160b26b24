"""Small architectures for MNIST-scale data: ``cnn``, ``allconv`` and ``mlp``.

All accept any input shape (C, H, W) and map [0, 1] images to logits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from advlab.errors import AdvlabError
from advlab.models.base import Classifier


class SmallCNN(Classifier):
    """Two conv blocks (3x3 conv, ReLU, 2x2 max-pool) and a hidden linear layer.

    Shapes: (N, C, H, W) -> conv(width) -> pool -> conv(2*width) -> pool
    -> (N, 2*width*(H//4)*(W//4)) -> linear(hidden) -> ReLU = features (N, hidden)
    -> linear -> logits (N, K).

    Args:
        width: channels of the first conv (the second has twice as many).
        hidden: size of the penultimate representation.
    """

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, *, width: int = 32,
                 hidden: int = 128, mean: float | Sequence[float] = 0.5,
                 std: float | Sequence[float] = 0.5) -> None:
        super().__init__(in_shape, mean, std)
        c, h, w = in_shape
        if h < 4 or w < 4:
            raise AdvlabError(f"in_shape: got {tuple(in_shape)!r}; cnn needs H, W >= 4")
        flat = 2 * width * (h // 4) * (w // 4)
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU(),
        )
        self.head = nn.Linear(hidden, num_classes)


class AllConvCNN(Classifier):
    """CleverHans' ``ModelAllConvolutional`` (the CNN of the Bayes-optimal paper, App. B.3).

    With ``L = round(log2(H))``, for ``scale`` in ``0 .. L-3``: 3x3 conv to
    ``width << scale`` channels, 3x3 conv to ``width << (scale+1)``, each followed by
    leaky ReLU (slope 0.2), then 2x2 average pooling; then a 3x3 conv to K channels,
    leaky ReLU, and the spatial mean gives the logits.

    There is no final linear layer: ``features(x)`` is the flattened activation map
    that feeds the class convolution, (N, (width << (L-2)) * H' * W').

    Args:
        width: CleverHans' ``nb_filters`` (its default is 64).
    """

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, *, width: int = 64,
                 mean: float | Sequence[float] = 0.5, std: float | Sequence[float] = 0.5) -> None:
        super().__init__(in_shape, mean, std)
        c, h, w = in_shape
        scales = int(round(math.log(h) / math.log(2))) - 2
        if scales < 1 or min(h, w) >> scales < 1:
            raise AdvlabError(f"in_shape: got {tuple(in_shape)!r}; allconv needs H, W >= 6")
        layers: list[nn.Module] = []
        prev = c
        for scale in range(scales):
            layers += [nn.Conv2d(prev, width << scale, 3, padding=1), nn.LeakyReLU(0.2),
                       nn.Conv2d(width << scale, width << (scale + 1), 3, padding=1),
                       nn.LeakyReLU(0.2), nn.AvgPool2d(2)]
            prev = width << (scale + 1)
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Conv2d(prev, num_classes, 3, padding=1), nn.LeakyReLU(0.2))
        self._map_shape = (prev, h >> scales, w >> scales)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # CleverHans' HeReLuNormalInitializer
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def features(self, x: Tensor) -> Tensor:
        """Flattened input of the class convolution: (N, C, H, W) -> (N, D)."""
        return self.trunk(self.normalize(x)).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, K): spatial mean of the class convolution's map."""
        z = self.features(x).view(x.shape[0], *self._map_shape)
        return self.head(z).mean(dim=(2, 3))


class MLP(Classifier):
    """Fully connected network: flatten, ``hidden`` ReLU layers, linear head.

    Args:
        hidden: sizes of the hidden layers; the last is the features' size D.
    """

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, *,
                 hidden: Sequence[int] = (256, 256), mean: float | Sequence[float] = 0.5,
                 std: float | Sequence[float] = 0.5) -> None:
        super().__init__(in_shape, mean, std)
        sizes = [math.prod(in_shape), *[int(s) for s in hidden]]
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(sizes[-1], num_classes)
