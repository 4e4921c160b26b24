"""Import MadryLab ``robustness`` CIFAR checkpoints (the features paper's own models).

The features paper's CIFAR-10 ResNet-50s (standard, and L2 eps = 0.5 / Linf 8/255
adversarially trained) are published as ``torch.save`` files of the ``robustness``
library: a dict ``{"model": state_dict, "optimizer": ..., "schedule": ..., "epoch": N}``
whose state dict belongs to ``DataParallel(AttackerModel(net, dataset))``:

* ``module.normalizer.new_mean`` / ``new_std`` (C, 1, 1): the input normalisation;
* ``module.model.*``: the CIFAR ResNet (``robustness.cifar_models.ResNet50`` /
  ``ResNet18``: 3x3 stride-1 stem, no max-pool, ``shortcut`` projections, ``linear`` head);
* ``module.attacker.*``: the same network and normaliser again (ignored).

These map one to one onto advlab's ``resnet50`` / ``resnet18`` (torchvision blocks with the
same CIFAR stem): ``conv1/bn1/layerI.J.*`` -> ``body.*``, ``shortcut.0/1`` ->
``downsample.0/1``, ``linear`` -> ``head``, normaliser -> ``normalize.mean/std``. The
global 4x4 average pool of ``robustness`` equals advlab's adaptive pool on 32x32 inputs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from advlab.errors import AdvlabError
from advlab.models.foreign.common import (
    check_close,
    check_out,
    find_state_dict,
    logits,
    probe_images,
    read_torch_file,
    source_record,
    write_and_reload,
)

#: (bottleneck blocks?, blocks per stage) -> advlab architecture.
_DEPTHS: dict[tuple[bool, tuple[int, ...]], str] = {
    (True, (3, 4, 6, 3)): "resnet50", (False, (2, 2, 2, 2)): "resnet18"}
_BLOCK = re.compile(r"layer(\d)\.(\d+)\.")


def _split(sd: dict[str, Tensor], path: Path) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """The network's state (``model.*`` without prefix) and the normaliser's mean and std."""
    prefix = "module." if any(k.startswith("module.") for k in sd) else ""
    net = {k[len(prefix) + 6:]: v for k, v in sd.items() if k.startswith(prefix + "model.")}
    mean, std = sd.get(prefix + "normalizer.new_mean"), sd.get(prefix + "normalizer.new_std")
    if not net or mean is None or std is None:
        raise AdvlabError(f"checkpoint: {path} is not a robustness AttackerModel state dict "
                          f"(no '{prefix}model.*' or '{prefix}normalizer.new_mean/new_std' keys)",
                          param="checkpoint")
    return net, mean.reshape(-1), std.reshape(-1)


def _architecture(net: dict[str, Tensor], path: Path) -> str:
    """advlab's name for the ResNet in ``net`` (refusing ImageNet stems and other depths)."""
    conv1 = net.get("conv1.weight")
    if conv1 is None or conv1.ndim != 4:
        raise AdvlabError(f"checkpoint: {path}: no ResNet stem 'model.conv1.weight'; only the "
                          "CIFAR ResNet-18 / ResNet-50 of robustness are supported", param="checkpoint")
    if tuple(conv1.shape[2:]) != (3, 3):
        raise AdvlabError(f"checkpoint: {path} has a {conv1.shape[2]}x{conv1.shape[3]} stem (an "
                          "ImageNet model); only CIFAR ResNets (3x3 stem) map onto advlab's "
                          "resnet18 / resnet50", param="checkpoint")
    blocks: dict[int, set[int]] = {}
    for k in net:
        m = _BLOCK.match(k)
        if m:
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    shape = tuple(len(blocks.get(i, ())) for i in (1, 2, 3, 4))
    bottleneck = any(".conv3." in k for k in net)
    arch = _DEPTHS.get((bottleneck, shape))
    if arch is None:
        kind = "bottleneck" if bottleneck else "basic"
        raise AdvlabError(f"checkpoint: {path} holds a ResNet with {kind} blocks {list(shape)}; "
                          "advlab maps only ResNet-18 [2, 2, 2, 2] and ResNet-50 "
                          "(bottleneck [3, 4, 6, 3])", param="checkpoint")
    return arch


def map_keys(net: dict[str, Tensor]) -> dict[str, Tensor]:
    """robustness CIFAR-ResNet keys -> advlab ResNet keys (``body.*`` and ``head.*``)."""
    out: dict[str, Tensor] = {}
    for k, v in net.items():
        if k.startswith("linear."):
            out["head." + k[len("linear."):]] = v
        else:
            out["body." + k.replace(".shortcut.", ".downsample.")] = v
    return out


def _reference(arch: str, net: dict[str, Tensor], mean: Tensor, std: Tensor,
               num_classes: int) -> Callable[[Tensor], Tensor] | None:
    """The original network built by the robustness package, when it is installed."""
    try:
        from robustness import cifar_models
        from robustness.tools.helpers import InputNormalize
    except ImportError:
        return None
    ref = getattr(cifar_models, arch)(num_classes=num_classes)
    ref.load_state_dict(net, strict=True)
    full = nn.Sequential(InputNormalize(mean, std), ref).eval()
    return full


def import_robustness(checkpoint: str | os.PathLike[str], out: str | os.PathLike[str], *,
                      image_size: int = 32, force: bool = False) -> dict[str, Any]:
    """Import a ``robustness`` CIFAR ResNet-18 / ResNet-50 checkpoint as an advlab checkpoint.

    Args:
        checkpoint: the ``.pt`` file written by ``robustness`` (read with weights_only=True).
        out: the advlab checkpoint folder to write (``model.safetensors`` + ``config.json``).
        image_size: H = W of the inputs (32 for CIFAR-10, the only size checked here).
        force: replace ``out`` when it already holds a checkpoint.

    Returns:
        The ``import`` record also stored in ``config.json``: source file and its sha256,
        architecture, epoch, and the logit checks (largest |difference| against the
        original network when the robustness package is installed, and of the reloaded
        checkpoint).
    """
    from advlab.models import build_model
    from advlab.models.checkpoint import load_state

    check_out(out, force)
    path = Path(checkpoint)
    obj = read_torch_file(path, "checkpoint", "download the .pt file of the model first "
                          "(see docs/models.md)")
    net, mean, std = _split(find_state_dict(obj, path, ("model", "state_dict")), path)
    arch = _architecture(net, path)
    num_classes = int(net["linear.weight"].shape[0]) if "linear.weight" in net else 0
    in_shape = (int(mean.numel()), image_size, image_size)
    model = build_model(arch, in_shape=in_shape, num_classes=num_classes,
                        mean=mean.tolist(), std=std.tolist())
    state = {**map_keys(net), "normalize.mean": mean.view(1, -1, 1, 1).float(),
             "normalize.std": std.view(1, -1, 1, 1).float()}
    load_state(model, state, path)
    model.eval()
    x = probe_images(in_shape)
    ours = logits(model, x)
    record: dict[str, Any] = {**source_record("robustness", path), "arch": arch,
                              "epoch": obj.get("epoch") if isinstance(obj, dict) else None,
                              "probe_images": int(x.shape[0])}
    ref = _reference(arch, net, mean, std, num_classes)
    if ref is not None:
        record["max_abs_logit_diff_vs_source"] = check_close(
            "advlab model vs the robustness package's network", ours, logits(ref, x))
    else:
        record["max_abs_logit_diff_vs_source"] = None
        record["note"] = "robustness package not installed: logits not compared with the original"
    record["max_abs_logit_diff_reloaded"] = write_and_reload(out, model, record, x, ours)
    return {"out": str(out), **record}


__all__ = ["import_robustness", "map_keys"]
