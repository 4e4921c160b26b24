"""torchvision architectures adapted to small images: ``resnet18``, ``resnet50``,
``vgg16``, ``densenet121``, ``inception_v3``.

Adaptations (CIFAR-style, as in the features paper's code base), chosen by ``stem``:

* ResNet / DenseNet: ``stem="cifar"`` (default): 3x3 stride-1 stem convolution and no
  stem max-pool; ``stem="imagenet"``: torchvision's 7x7 stride-2 convolution and 3x3
  stride-2 max-pool, the ImageNet networks of the paper's Restricted ImageNet models.
* VGG16: batch-norm variant (``vgg16_bn``) by default, global average pooling and a
  single linear head (512 -> K); max-pools that would shrink the map below 1x1 are
  dropped, so 28x28 inputs work.
* Inception-v3: ``stem="upsample"`` (default): inputs smaller than 75x75 are upsampled
  (bilinear) inside the model; ``stem="cifar"``: the stem of the CIFAR Inception-v3 of
  the features paper's code base (the ``robustness`` package's ``cifar_models``):
  stride-1 padded 3x3 convolutions and no max-pools, so a 32x32 image reaches the first
  Inception block at 30x30 and the last at 6x6, without upsampling. No auxiliary head.
* The stem takes C input channels, so 1-channel images need no conversion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch.nn.functional as F
import torchvision.models as tvm
from torch import Tensor, nn
from torchvision.models.inception import BasicConv2d

from advlab.models.base import Classifier

_INCEPTION_MIN = 75


Stem = Literal["cifar", "imagenet"]


class ResNet(Classifier):
    """torchvision ResNet; ``stem="cifar"``: a 3x3 stride-1 stem and no max-pool,
    ``"imagenet"``: torchvision's 7x7 stride-2 stem and max-pool; features (N, 512|2048)."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, *, depth: int = 18,
                 stem: Stem = "cifar", mean: float | Sequence[float] = 0.5,
                 std: float | Sequence[float] = 0.5) -> None:
        super().__init__(in_shape, mean, std)
        net = tvm.resnet18() if depth == 18 else tvm.resnet50()
        if stem == "cifar":
            net.conv1 = nn.Conv2d(in_shape[0], 64, 3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        else:
            net.conv1 = nn.Conv2d(in_shape[0], 64, 7, stride=2, padding=3, bias=False)
        dim = net.fc.in_features
        net.fc = nn.Identity()
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
    """torchvision DenseNet-121; ``stem="cifar"``: a 3x3 stride-1 stem and no stem pool,
    ``"imagenet"``: torchvision's 7x7 stride-2 stem and pool; features (N, 1024)."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, *, stem: Stem = "cifar",
                 mean: float | Sequence[float] = 0.5, std: float | Sequence[float] = 0.5) -> None:
        super().__init__(in_shape, mean, std)
        net = tvm.densenet121()
        if stem == "cifar":
            net.features.conv0 = nn.Conv2d(in_shape[0], 64, 3, stride=1, padding=1, bias=False)
            net.features.pool0 = nn.Identity()
        else:
            net.features.conv0 = nn.Conv2d(in_shape[0], 64, 7, stride=2, padding=3, bias=False)
        dim = net.classifier.in_features
        net.classifier = nn.Identity()
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
    """torchvision Inception-v3 (no aux head); features (N, 2048).

    ``stem="upsample"``: torchvision's stem, inputs below 75x75 upsampled (bilinear);
    ``"cifar"``: the CIFAR stem of the features paper's code base (stride 1, padded,
    no max-pools), no upsampling.
    """

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, *,
                 stem: Literal["upsample", "cifar"] = "upsample",
                 mean: float | Sequence[float] = 0.5, std: float | Sequence[float] = 0.5) -> None:
        super().__init__(in_shape, mean, std)
        net = tvm.inception_v3(weights=None, aux_logits=False, init_weights=True)
        dim = net.fc.in_features
        net.fc = nn.Identity()
        if stem == "cifar":
            net.Conv2d_1a_3x3 = BasicConv2d(in_shape[0], 32, kernel_size=3, padding=1)
            net.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3, padding=1)
            net.maxpool1 = nn.Identity()
            net.maxpool2 = nn.Identity()
            self.body = nn.Sequential(net)
        else:
            net.Conv2d_1a_3x3 = BasicConv2d(in_shape[0], 32, kernel_size=3, stride=2)
            self.body = nn.Sequential(_Upsample(in_shape[1], in_shape[2]), net)
        self.head = nn.Linear(dim, num_classes)
