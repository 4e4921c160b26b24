"""Model registry: every architecture by name, rebuilt from its config alone.

>>> model = build_model("cnn", in_shape=(1, 28, 28), num_classes=10)
>>> same = build_model(**model.config)          # same architecture, fresh weights
"""

from __future__ import annotations

import contextlib
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from advlab.errors import AdvlabError, bad_argument
from advlab.schema import (
    Bool,
    Either,
    Float,
    Int,
    ListOf,
    Nullable,
    Obj,
    OneOf,
    Spec,
    Str,
    validate,
)

# name -> (module path, class name, fixed keyword arguments)
_REGISTRY: dict[str, tuple[str, str, dict[str, Any]]] = {
    "cnn": ("advlab.models.small", "SmallCNN", {}),
    "allconv": ("advlab.models.small", "AllConvCNN", {}),
    "mlp": ("advlab.models.small", "MLP", {}),
    "resnet18": ("advlab.models.vision", "ResNet", {"depth": 18}),
    "resnet50": ("advlab.models.vision", "ResNet", {"depth": 50}),
    "vgg16": ("advlab.models.vision", "VGG", {}),
    "densenet121": ("advlab.models.vision", "DenseNet", {}),
    "inception_v3": ("advlab.models.vision", "Inception", {}),
    "linear_svm": ("advlab.models.svm", "SVMModule", {"kind": "linear"}),
    "rbf_svm": ("advlab.models.svm", "SVMModule", {"kind": "rbf"}),
}

#: Every architecture name accepted by :func:`build_model` (and ``--model``).
ARCHITECTURES: tuple[str, ...] = tuple(_REGISTRY)
#: Architectures trained by gradient descent (``advlab train``); SVMs are fitted instead.
TRAINABLE: tuple[str, ...] = tuple(a for a in ARCHITECTURES if not a.endswith("_svm"))


#: Architectures of imported checkpoints (``advlab models import``): rebuilt by
#: ``load_model`` from their config, not offered by ``--model``.
_IMPORTED: dict[str, tuple[str, str, dict[str, Any]]] = {
    "robustbench": ("advlab.models.foreign.robustbench", "RobustBenchModel", {}),
}
#: Every architecture a checkpoint may name: :data:`ARCHITECTURES` and the imported ones.
LOADABLE: tuple[str, ...] = ARCHITECTURES + tuple(_IMPORTED)


def _factory(arch: str) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
    import importlib

    if arch not in _REGISTRY and arch not in _IMPORTED:
        raise AdvlabError(
            f"--model: unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}"
        )
    mod, cls, fixed = _REGISTRY.get(arch) or _IMPORTED[arch]
    return getattr(importlib.import_module(mod), cls), dict(fixed)


#: Default bound on a model's size: parameters and buffers, in elements (300 M, 1.2 GB of
#: float32; ResNet-50 has 24 M). Override with ``max_params=`` or ``$ADVLAB_MAX_PARAMS``.
DEFAULT_MAX_PARAMS = 300_000_000
MAX_CLASSES = 100_000
_SIDE = Int(1, 1 << 14)
IN_SHAPE = ListOf(_SIDE, 3, 3)
_STATS = Either((Float(), ListOf(Float(), 1, 4096)))
_STD = Either((Float(gt=0.0), ListOf(Float(gt=0.0), 1, 4096)))
_NORM: dict[str, Spec] = {"mean": _STATS, "std": _STD}
#: The declared arguments of each architecture (types and ranges; sizes bounded).
_ARGS: dict[str, dict[str, Spec]] = {
    "cnn": {"width": Int(1, 1 << 16), "hidden": Int(1, 1 << 24)},
    "allconv": {"width": Int(1, 1 << 16)},
    "mlp": {"hidden": ListOf(Int(1, 1 << 24), 0, 256)},
    "resnet18": {"stem": OneOf(("cifar", "imagenet"))},
    "resnet50": {"stem": OneOf(("cifar", "imagenet"))},
    "densenet121": {"stem": OneOf(("cifar", "imagenet"))},
    "inception_v3": {"stem": OneOf(("upsample", "cifar"))},
    "vgg16": {"batch_norm": Bool()},
}
#: The declared arguments of each architecture (types and ranges; sizes bounded).
KWARGS_SCHEMA: dict[str, Obj] = {a: Obj({**_NORM, **extra}, what=f"{a} arguments") for a, extra in _ARGS.items()}
KWARGS_SCHEMA["robustbench"] = Obj({"name": Str(200), "dataset": Str(40), "threat_model": Str(40),
                                    "features_layer": Nullable(Str(1000))},
                                   what="robustbench arguments")
for _svm in ("linear_svm", "rbf_svm"):
    KWARGS_SCHEMA[_svm] = Obj({"n_support": Int(1, 1 << 31), "n_outputs": Int(1, MAX_CLASSES),
                               "gamma": Float(gt=0.0)}, what=f"{_svm} arguments")


def param_limit(override: int | None = None) -> int:
    """The model-size bound: ``override``, else ``$ADVLAB_MAX_PARAMS``, else the default."""
    if override is not None:
        if isinstance(override, bool) or not isinstance(override, int) or override < 1:
            raise bad_argument("max_params", override, "a positive integer")
        return override
    env = os.environ.get("ADVLAB_MAX_PARAMS", "").strip()
    if not env:
        return DEFAULT_MAX_PARAMS
    if not env.isdigit() or len(env) > 18 or int(env) < 1:
        raise AdvlabError(f"ADVLAB_MAX_PARAMS: got {env[:40]!r}; expected a positive integer")
    return int(env)


def _check_shape(in_shape: Sequence[int]) -> tuple[int, int, int]:
    if isinstance(in_shape, str) or not isinstance(in_shape, Sequence):
        raise bad_argument("in_shape", in_shape, "(C, H, W) positive ints")
    shape = validate(IN_SHAPE, list(in_shape), "in_shape")
    return tuple(shape)


def _check_kwargs(arch: str, user: dict[str, Any]) -> None:
    """Unknown names, then types and ranges (``model_kwargs`` names the user's argument)."""
    schema = KWARGS_SCHEMA[arch]
    unknown = sorted(set(user) - set(schema.fields))
    if unknown:
        raise AdvlabError(
            f"--model-kwargs: {arch} does not take {', '.join(str(u)[:40] for u in unknown[:5])}; "
            f"it takes {', '.join(sorted(schema.fields)) or 'no arguments'}"
        )
    validate(schema, user, "--model-kwargs")


def state_numel(model: nn.Module) -> int:
    """Elements of the model's parameters and buffers (works on the meta device)."""
    return sum(t.numel() for t in model.state_dict().values())


def build_model(arch: str, *, in_shape: Sequence[int], num_classes: int,
                kwargs: Mapping[str, Any] | None = None, device: str | torch.device | None = None,
                max_params: int | None = None, **more: Any) -> nn.Module:
    """Build an architecture by name; the result carries ``model.config``.

    The arguments are checked against :data:`KWARGS_SCHEMA` and the architecture is first
    built on the meta device (no memory) to count its elements; a model larger than
    ``max_params`` is refused before anything is allocated.

    Args:
        arch: one of :data:`ARCHITECTURES`.
        in_shape: (C, H, W) of the input images.
        num_classes: K, the number of logits.
        kwargs: architecture keyword arguments as a mapping (the form stored in
            ``model.config``); merged with ``**more``.
        device: where to allocate (``"meta"``: shapes only, no storage).
        max_params: the size bound in elements (see :func:`param_limit`).
        **more: architecture keyword arguments (e.g. ``width=32``, ``mean=``, ``std=``).

    Returns:
        An ``nn.Module`` mapping (N, C, H, W) in [0, 1] to logits (N, K), with
        ``config = {"arch", "in_shape", "num_classes", "kwargs"}`` such that
        ``build_model(**model.config)`` rebuilds the same architecture.
    """
    if not isinstance(arch, str):
        raise bad_argument("arch", arch, f"one of {', '.join(ARCHITECTURES)}")
    cls, fixed = _factory(arch)
    shape = _check_shape(in_shape)
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) \
            or not 2 <= int(num_classes) <= MAX_CLASSES:
        raise bad_argument("num_classes", num_classes, f"an int in [2, {MAX_CLASSES}]")
    num_classes = int(num_classes)
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise bad_argument("model_kwargs", kwargs, "a mapping of architecture arguments")
    user = {**dict(kwargs or {}), **more}
    _check_kwargs(arch, user)
    limit = param_limit(max_params)
    meta = _construct(cls, arch, shape, num_classes, fixed, user, "meta")
    size = state_numel(meta)
    if size > limit:
        raise AdvlabError(
            f"--model-kwargs: {arch} with {user or 'default arguments'} on inputs {shape} has "
            f"{size:,} parameters and buffers, more than the limit of {limit:,} "
            f"(raise it with max_params= or ADVLAB_MAX_PARAMS)"
        )
    model = meta if str(device) == "meta" else _construct(cls, arch, shape, num_classes, fixed, user, device)
    config: dict[str, Any] = {"arch": arch, "in_shape": list(shape),
                              "num_classes": int(num_classes), "kwargs": user}
    model.config = config
    return model


def _construct(cls: Callable[..., nn.Module], arch: str, shape: tuple[int, int, int], num_classes: int,
               fixed: dict[str, Any], user: dict[str, Any], device: str | torch.device | None) -> nn.Module:
    try:
        with torch.device(device) if device is not None else contextlib.nullcontext():
            return cls(shape, int(num_classes), **fixed, **user)
    except TypeError as e:
        raise AdvlabError(f"--model-kwargs: bad arguments {user!r} for {arch}: {e}") from None


def config_of(model: nn.Module) -> dict[str, Any]:
    """``model.config`` (unwrapping DDP), or an error when the model has none."""
    inner = getattr(model, "module", model)
    cfg = vars(inner).get("config")
    if not isinstance(cfg, dict) or "arch" not in cfg:
        raise AdvlabError("model: has no .config; build it with advlab.models.build_model")
    return cfg


def __getattr__(name: str) -> Any:
    # Lazy re-exports: keeps `import advlab.models` light (torchvision loads on demand).
    if name in ("save_checkpoint", "load_model", "load_checkpoint"):
        from advlab.models import checkpoint

        return getattr(checkpoint, name)
    if name == "fit_svm":
        from advlab.models.svm import fit_svm

        return fit_svm
    raise AttributeError(name)


__all__ = ["ARCHITECTURES", "LOADABLE", "TRAINABLE", "KWARGS_SCHEMA", "DEFAULT_MAX_PARAMS", "build_model",
           "config_of", "param_limit", "state_numel", "save_checkpoint", "load_model",
           "load_checkpoint", "fit_svm"]
