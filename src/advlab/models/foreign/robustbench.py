"""RobustBench model-zoo architectures as advlab models, and the import of their checkpoints.

The architecture comes from the ``robustbench`` package (an optional dependency: ``pip
install robustbench``); the weights come from a checkpoint file the user downloaded. The
file is read with ``torch.load(weights_only=True)`` and its state dict matched the way
RobustBench's own ``load_model`` does (under ``state_dict`` or at the top, with the
``module.`` / ``model.`` prefixes removed, or ``model.`` added).

An imported model exposes the generic ``features(x)`` that dataset construction needs:
the input of the network's last ``nn.Linear`` layer, captured by a forward hook. At import
the check ``head(features(x)) == logits(x)`` decides whether that layer is the network's
output; a network that does more after it (ensembles, post-scaling) is imported without
``features`` and says so when asked for them.

robustbench 1.1.1 on PyPI cannot be imported as a whole: its ``__init__`` imports
``autoattack``, which PyPI ships under the name ``pyautoattack``. advlab needs only
``robustbench.model_zoo``; when the package's ``__init__`` fails for a missing module, that
sub-package is loaded alone (its ``__init__`` is skipped, nothing else changes).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from advlab.errors import AdvlabError, bad_argument
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

DATASETS = {"cifar10": (10, 32), "cifar100": (100, 32), "imagenet": (1000, 224)}
THREAT_MODELS = ("Linf", "L2", "corruptions")
_LAST = ("Kireev2021Effectiveness", "Andriushchenko2020Understanding")  # {'last': ..., 'best': ...}
_ZOO: dict[str, Any] = {}
_INSTALL = "install it with `pip install robustbench` (advlab uses only its model zoo)"


def _model_zoo() -> Any:
    """``robustbench.model_zoo.models.model_dicts`` (see the module docstring)."""
    if "zoo" in _ZOO:
        return _ZOO["zoo"]
    try:
        mod = importlib.import_module("robustbench.model_zoo.models")
    except ModuleNotFoundError as e:
        if e.name is None or e.name == "robustbench" or e.name.startswith("robustbench."):
            raise AdvlabError(f"robustbench is not installed: {_INSTALL}") from None
        mod = _zoo_without_package_init(e)
    _ZOO["zoo"] = mod.model_dicts
    return mod.model_dicts


def _zoo_without_package_init(first: ModuleNotFoundError) -> Any:
    """Load ``robustbench.model_zoo`` with a bare ``robustbench`` parent package."""
    spec = importlib.util.find_spec("robustbench")
    if spec is None or not spec.submodule_search_locations:
        raise AdvlabError(f"robustbench is not installed: {_INSTALL}") from None
    parent = importlib.util.module_from_spec(spec)  # not executed: its __init__ is skipped
    sys.modules["robustbench"] = parent
    try:
        return importlib.import_module("robustbench.model_zoo.models")
    except ModuleNotFoundError as e:
        raise AdvlabError(f"robustbench's model zoo needs the package {e.name!r}, which is not "
                          f"installed (robustbench itself failed on {first.name!r})") from None
    finally:
        del sys.modules["robustbench"]  # a later `import robustbench` runs its real __init__


def zoo_entry(name: str, dataset: str, threat_model: str) -> dict[str, Any]:
    """The model-zoo entry of ``name`` (``{"model": factory, "gdrive_id": ...}``)."""
    if dataset not in DATASETS:
        raise bad_argument("dataset", dataset, f"one of {', '.join(DATASETS)}")
    if threat_model not in THREAT_MODELS:
        raise bad_argument("threat_model", threat_model, f"one of {', '.join(THREAT_MODELS)}")
    zoo = _model_zoo()
    by_ds = {k.value: v for k, v in zoo.items()}[dataset]
    models = {k.value: v for k, v in by_ds.items()}.get(threat_model, {})
    if name not in models:
        close = difflib.get_close_matches(name, list(models), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise bad_argument("name", name, f"a model of RobustBench's {dataset} / {threat_model} "
                           f"zoo ({len(models)} models){hint}")
    entry = models[name]
    if isinstance(entry.get("gdrive_id"), list):
        raise bad_argument("name", name, "a single-network model; ensembles of several "
                           "checkpoints are not supported")
    return dict(entry)


def last_linear(net: nn.Module) -> str | None:
    """Name of the last ``nn.Linear`` in module order (the classification head), or None."""
    names = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    return names[-1] if names else None


class RobustBenchModel(nn.Module):
    """A RobustBench architecture: images (N, C, H, W) in [0, 1] -> logits (N, K).

    Args:
        in_shape: (C, H, W); num_classes: K (both checked against the dataset).
        name, dataset, threat_model: the model-zoo entry.
        features_layer: the module name of the head whose input is ``features(x)`` (set
            at import after the check), or None when the network has no such layer.
    """

    config: dict[str, Any]

    def __init__(self, in_shape: Sequence[int], num_classes: int, *, name: str,
                 dataset: str = "cifar10", threat_model: str = "Linf",
                 features_layer: str | None = None) -> None:
        super().__init__()
        self.in_shape = tuple(int(s) for s in in_shape)
        self.net: nn.Module = zoo_entry(name, dataset, threat_model)["model"]()
        self.features_layer = features_layer
        if features_layer is not None and not isinstance(
                dict(self.net.named_modules()).get(features_layer), nn.Linear):
            raise bad_argument("features_layer", features_layer, f"a linear layer of {name}")
        self.config = {}

    @property
    def head(self) -> nn.Linear:
        """The last linear layer (``features_layer``)."""
        if self.features_layer is None:
            raise AdvlabError(f"{type(self.net).__name__}: features(x) is not available: the "
                              "network does more after its last linear layer (the import "
                              "check head(features(x)) == logits failed)")
        layer = dict(self.net.named_modules())[self.features_layer]
        assert isinstance(layer, nn.Linear)
        return layer

    def forward(self, x: Tensor) -> Tensor:
        """Logits: (N, C, H, W) in [0, 1] -> (N, K)."""
        return self.net(x)

    def features(self, x: Tensor) -> Tensor:
        """The input of the last linear layer: (N, C, H, W) in [0, 1] -> (N, D)."""
        seen: list[Tensor] = []
        handle = self.head.register_forward_hook(lambda _m, inp, _out: seen.append(inp[0]))
        try:
            self.net(x)
        finally:
            handle.remove()
        if len(seen) != 1 or seen[0].ndim != 2:
            raise AdvlabError(f"{type(self.net).__name__}: its last linear layer ran "
                              f"{len(seen)} times or on a non-flat input; no features(x)")
        return seen[0]


def _candidates(sd: dict[str, Tensor]) -> list[dict[str, Tensor]]:
    """The state dict as RobustBench reads it: prefixes 'module.' / 'model.' removed or added."""
    def strip(d: dict[str, Tensor], p: str) -> dict[str, Tensor]:
        return {(k[len(p):] if k.startswith(p) else k): v for k, v in d.items()}
    no_module = strip(sd, "module.")
    bare = strip(no_module, "model.")
    return [sd, no_module, bare, {"model." + k: v for k, v in bare.items()}]


def load_weights(net: nn.Module, sd: dict[str, Tensor], path: Path) -> dict[str, list[str]]:
    """Load ``sd`` into ``net``: every parameter must be present with its shape; buffers the
    file lacks keep the architecture's values (RobustBench does the same); extra keys are
    ignored. Returns ``{"missing_buffers": [...], "ignored_keys": [...]}``."""
    own = net.state_dict()
    params = {n for n, _ in net.named_parameters()}
    best = max(_candidates(sd), key=lambda c: len(params & set(c)))
    missing = sorted(params - set(best))
    if missing:
        raise AdvlabError(f"checkpoint: {path} lacks {len(missing)} of the architecture's "
                          f"{len(params)} parameters (e.g. {missing[:3]}); is it the right model?",
                          param="checkpoint")
    bad = [k for k in own if k in best and tuple(best[k].shape) != tuple(own[k].shape)]
    if bad:
        k = bad[0]
        raise AdvlabError(f"checkpoint: {path}: {k} has shape {tuple(best[k].shape)}, the "
                          f"architecture {tuple(own[k].shape)}", param="checkpoint")
    net.load_state_dict({k: v for k, v in best.items() if k in own}, strict=False)
    return {"missing_buffers": sorted(set(own) - set(best)),
            "ignored_keys": sorted(set(best) - set(own))}


def _features_check(model: RobustBenchModel, x: Tensor, out: Tensor) -> float | None:
    """head(features(x)) against the logits; sets ``features_layer`` when they agree."""
    layer = last_linear(model.net)
    if layer is None:
        return None
    model.features_layer = layer
    try:
        f = model.features(x)
        diff = check_close("head(features(x)) vs logits", logits(model.head, f), out)
    except AdvlabError:
        model.features_layer = None
        return None
    return diff


def import_robustbench(name: str, checkpoint: str | os.PathLike[str],
                       out: str | os.PathLike[str], *, dataset: str = "cifar10",
                       threat_model: str = "Linf", image_size: int | None = None,
                       force: bool = False) -> dict[str, Any]:
    """Import a RobustBench model: architecture from the package, weights from ``checkpoint``.

    Args:
        name: the model-zoo name (e.g. ``"Wong2020Fast"``).
        checkpoint: the downloaded ``.pt`` file (read with weights_only=True).
        out: the advlab checkpoint folder to write.
        dataset, threat_model: the zoo section (``cifar10`` / ``cifar100`` / ``imagenet``;
            ``Linf`` / ``L2`` / ``corruptions``).
        image_size: H = W of the inputs (default: 32 for CIFAR, 224 for ImageNet).
        force: replace ``out`` when it already holds a checkpoint.

    Returns:
        The ``import`` record stored in ``config.json`` (source sha256, zoo entry, ignored
        keys, the head(features(x)) check) plus the reloaded checkpoint's logit check.
    """
    from advlab.models import build_model

    check_out(out, force)
    path = Path(checkpoint)
    hint = (f"download it first, e.g. with robustbench.utils.load_model({name!r}, "
            f"dataset={dataset!r}, threat_model={threat_model!r}) on a machine with internet "
            f"(it saves models/{dataset}/{threat_model}/{name}.pt); see docs/models.md")
    obj = read_torch_file(path, "checkpoint", hint)
    k, size = DATASETS.get(dataset, (0, 0))
    in_shape = (3, image_size or size, image_size or size)
    model = build_model("robustbench", in_shape=in_shape, num_classes=k, name=name,
                        dataset=dataset, threat_model=threat_model)
    assert isinstance(model, RobustBenchModel)
    if any(name.startswith(p) for p in _LAST) and isinstance(obj, dict) and "last" in obj:
        obj = obj["last"]
    keys = load_weights(model.net, find_state_dict(obj, path, ("state_dict", "model")), path)
    model.eval()
    x = probe_images(in_shape)
    ours = logits(model, x)
    if ours.ndim != 2 or ours.shape[1] != k:
        raise AdvlabError(f"import check failed: {name} gives logits {tuple(ours.shape)}, "
                          f"expected (N, {k}) for {dataset}")
    head_diff = _features_check(model, x, ours)
    model.config["kwargs"]["features_layer"] = model.features_layer
    record: dict[str, Any] = {**source_record("robustbench", path), "name": name,
                              "dataset": dataset, "threat_model": threat_model,
                              **keys, "features_layer": model.features_layer,
                              "max_abs_head_features_diff": head_diff,
                              "probe_images": int(x.shape[0])}
    record["max_abs_logit_diff_reloaded"] = write_and_reload(out, model, record, x, ours)
    return {"out": str(out), **record}


__all__ = ["DATASETS", "THREAT_MODELS", "RobustBenchModel", "import_robustbench", "last_linear",
           "load_weights", "zoo_entry"]
