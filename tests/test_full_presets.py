"""The paper-scale (``full``) presets end to end at toy size, on tiny datasets written in
the official on-disk formats (CIFAR-10 binary version, CelebA's folder and list files),
through the command line: only counts are shrunk with ``--set``.

CI runs a lighter variant of each (see the docstrings); the complete runs with every
paper architecture are ``@pytest.mark.slow`` (``make test-slow``). Wall times are in
docs/scale.md.
"""

from __future__ import annotations

import pytest
import torch
import torchvision.models as tvm
from torch.utils.flop_counter import FlopCounterMode

from advlab.errors import AdvlabError
from advlab.experiments.richardson2020.config import make_config
from advlab.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADVLAB_NO_DOWNLOAD", "1")
    monkeypatch.delenv("ADVLAB_DATA", raising=False)


def _flops(model: torch.nn.Module, shape: tuple[int, ...]) -> int:
    with FlopCounterMode(display=False) as fc:
        model.eval()(torch.zeros((2, *shape), device="meta"))
    return int(fc.get_total_flops())


# ---------------------------------------------------------------- architectures


def test_imagenet_stems_are_torchvisions_networks() -> None:
    """``stem="imagenet"``: the same convolutions as torchvision's ImageNet ResNet-50 /
    DenseNet-121 (the Restricted ImageNet models); the CIFAR stem keeps full resolution."""
    for arch, ref in (("resnet50", tvm.resnet50), ("densenet121", tvm.densenet121)):
        ours = build_model(arch, in_shape=(3, 224, 224), num_classes=9, kwargs={"stem": "imagenet"},
                           device="meta")
        with torch.device("meta"):
            theirs = ref(num_classes=9)
        assert _flops(ours, (3, 224, 224)) == _flops(theirs, (3, 224, 224))
    cifar = build_model("resnet50", in_shape=(3, 32, 32), num_classes=10, device="meta")
    assert _flops(cifar, (3, 32, 32)) == pytest.approx(2 * 2 * 1.298e9, rel=1e-3)  # 1.3 GMAC / image


def test_inception_cifar_stem_matches_the_authors_resolutions() -> None:
    """``stem="cifar"``: the feature-map sizes of the features paper's CIFAR Inception-v3
    (robustness.cifar_models): 30x30 into the first Inception block, 14x14, then 6x6."""
    cm = pytest.importorskip("robustness.cifar_models")
    ours = build_model("inception_v3", in_shape=(3, 32, 32), num_classes=10,
                       kwargs={"stem": "cifar"}).eval()
    theirs = cm.inceptionv3(num_classes=10).eval()
    names = ("Conv2d_4a_3x3", "Mixed_5d", "Mixed_6a", "Mixed_7c")
    shapes: dict[str, list[tuple[int, ...]]] = {"ours": [], "theirs": []}
    for key, root in (("ours", ours.body[0]), ("theirs", theirs)):
        for n in names:
            getattr(root, n).register_forward_hook(
                lambda _m, _i, o, key=key: shapes[key].append(tuple(o.shape)))
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        ours(x), theirs(x)
    assert shapes["ours"] == shapes["theirs"] == [(2, 192, 30, 30), (2, 288, 30, 30),
                                                  (2, 768, 14, 14), (2, 2048, 6, 6)]
    with pytest.raises(AdvlabError, match="stem"):
        build_model("inception_v3", in_shape=(3, 32, 32), num_classes=10, kwargs={"stem": "imagenet"})


# ---------------------------------------------------------------- presets


def test_richardson_full_celeba_uses_the_papers_celeba_mfa() -> None:
    """App. B.1: CelebA, samples/1000 components (0) and latent dimension 10; MNIST 25 and 6."""
    celeba, mnist = make_config("celeba", "full"), make_config("mnist", "full")
    assert (celeba.mfa_components, celeba.mfa_latent_dim) == (0, 10)
    assert (mnist.mfa_components, mnist.mfa_latent_dim) == (25, 6)
    assert make_config("celeba", "quick").mfa_latent_dim == 6  # only the full preset follows the paper
