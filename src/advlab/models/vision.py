"""torchvision architectures adapted to small images: ``resnet18``, ``resnet50``,
``vgg16``, ``densenet121``, ``inception_v3``.

Adaptations (CIFAR-style, as in the features paper's code base):

* ResNet / DenseNet: 3x3 stride-1 stem convolution and no stem max-pool.
* VGG16: batch-norm variant (``vgg16_bn``) by default, global average pooling and a
  single linear head (512 -> K); max-pools that would shrink the map below 1x1 are
  dropped, so 28x28 inputs work.
* Inception-v3: inputs smaller than 75x75 are upsampled (bilinear) inside the model;
  no auxiliary head.
* The stem takes C input channels, so 1-channel images need no conversion.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
import torchvision.models as tvm
from torch import Tensor, nn
from torchvision.models.inception import BasicConv2d

from advlab.models.base import Classifier

_INCEPTION_MIN = 75


class ResNet(Classifier):
    """torchvision ResNet with a 3x3 stride-1 stem and no max-pool; features (N, 512|2048)."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, *, depth: int = 18,
                 mean: float | Sequence[float] = 0.5, std: float | Sequence[float] = 0.5) -> None:
        super().__init__(in_shape, mean, std)
        net = tvm.resnet18() if depth == 18 else tvm.resnet50()
        net.conv1 = nn.Conv2d(in_shape[0], 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()  # type: ignore[assignment]
        dim = net.fc.in_features
        net.fc = nn.Identity()  # type: ignore[assignment]
        self.body = net
        self.head = nn.Linear(dim, num_classes)


class VGG(Classifier):
    """torchvision VGG16 (with batch norm by default); global pooling; features (N, 512)."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, *, batch_norm: bool = True,
                 mean: float | Sequence[float] = 0.5, std: float | Sequence[float] = 0.5) -> None:
        super().__init__(in_shape, mean, std)
        net = tvm.vgg16_bn() if batch_norm else tvm.vgg16()
        layers: list[nn.Module] = []
        size = min(in_shape[1:])
        for m in net.features:
            if isinstance(m, nn.Conv2d) and not layers:
                m = nn.Conv2d(in_shape[0], m.out_channels, 3, padding=1)
            if isinstance(m, nn.MaxPool2d):
                if size < 2:
                    continue  # would shrink the map to nothing: drop it
                size //= 2
            layers.append(m)
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(512, num_classes)


class DenseNet(Classifier):
    """torchvision DenseNet-121 with a 3x3 stride-1 stem and no stem pool; features (N, 1024)."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, *,
                 mean: float | Sequence[float] = 0.5, std: float | Sequence[float] = 0.5) -> None:
        super().__init__(in_shape, mean, std)
        net = tvm.densenet121()
        net.features.conv0 = nn.Conv2d(in_shape[0], 64, 3, stride=1, padding=1, bias=False)
        net.features.pool0 = nn.Identity()
        dim = net.classifier.in_features
        net.classifier = nn.Identity()  # type: ignore[assignment]
        self.body = net
        self.head = nn.Linear(dim, num_classes)


class _Upsample(nn.Module):
    """Bilinear resize of (N, C, H, W) to at least (N, C, 75, 75) (Inception-v3's minimum)."""

    def __init__(self, h: int, w: int) -> None:
        super().__init__()
        self.size = (max(h, _INCEPTION_MIN), max(w, _INCEPTION_MIN))
        self.needed = self.size != (h, w)

    def forward(self, x: Tensor) -> Tensor:
        if not self.needed:
            return x
        return F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)


class Inception(Classifier):
    """torchvision Inception-v3 (no aux head), small inputs upsampled; features (N, 2048)."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, *,
                 mean: float | Sequence[float] = 0.5, std: float | Sequence[float] = 0.5) -> None:
        super().__init__(in_shape, mean, std)
        net = tvm.inception_v3(weights=None, aux_logits=False, init_weights=True)
        net.Conv2d_1a_3x3 = BasicConv2d(in_shape[0], 32, kernel_size=3, stride=2)
        dim = net.fc.in_features
        net.fc = nn.Identity()  # type: ignore[assignment]
        self.body = nn.Sequential(_Upsample(in_shape[1], in_shape[2]), net)
        self.head = nn.Linear(dim, num_classes)
