"""Model registry: every architecture by name, rebuilt from its config alone.

>>> model = build_model("cnn", in_shape=(1, 28, 28), num_classes=10)
>>> same = build_model(**model.config)          # same architecture, fresh weights
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn

from advlab.errors import AdvlabError

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


def _factory(arch: str) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
    import importlib

    if arch not in _REGISTRY:
        raise AdvlabError(
            f"--model: unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}"
        )
    mod, cls, fixed = _REGISTRY[arch]
    return getattr(importlib.import_module(mod), cls), dict(fixed)


def _check_shape(in_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in in_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise AdvlabError(f"in_shape: got {tuple(in_shape)!r}; expected (C, H, W) positive ints")
    return shape  # type: ignore[return-value]


def build_model(arch: str, *, in_shape: Sequence[int], num_classes: int,
                kwargs: Mapping[str, Any] | None = None, **more: Any) -> nn.Module:
    """Build an architecture by name; the result carries ``model.config``.

    Args:
        arch: one of :data:`ARCHITECTURES`.
        in_shape: (C, H, W) of the input images.
        num_classes: K, the number of logits.
        kwargs: architecture keyword arguments as a mapping (the form stored in
            ``model.config``); merged with ``**more``.
        **more: architecture keyword arguments (e.g. ``width=32``, ``mean=``, ``std=``).

    Returns:
        An ``nn.Module`` mapping (N, C, H, W) in [0, 1] to logits (N, K), with
        ``config = {"arch", "in_shape", "num_classes", "kwargs"}`` such that
        ``build_model(**model.config)`` rebuilds the same architecture.
    """
    cls, fixed = _factory(arch)
    shape = _check_shape(in_shape)
    if int(num_classes) < 2:
        raise AdvlabError(f"num_classes: got {num_classes!r}; expected an int >= 2")
    user = {**dict(kwargs or {}), **more}
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "in_shape", "num_classes"}
    allowed -= set(fixed)
    unknown = sorted(set(user) - allowed)
    if unknown:
        raise AdvlabError(
            f"--model-kwargs: {arch} does not take {', '.join(unknown)}; "
            f"it takes {', '.join(sorted(allowed)) or 'no arguments'}"
        )
    try:
        model = cls(shape, int(num_classes), **fixed, **user)
    except TypeError as e:
        raise AdvlabError(f"--model-kwargs: bad arguments {user!r} for {arch}: {e}") from None
    config: dict[str, Any] = {"arch": arch, "in_shape": list(shape),
                              "num_classes": int(num_classes), "kwargs": user}
    model.config = config  # type: ignore[assignment]
    return model


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


__all__ = ["ARCHITECTURES", "TRAINABLE", "build_model", "config_of", "save_checkpoint", "load_model",
           "load_checkpoint", "fit_svm"]
