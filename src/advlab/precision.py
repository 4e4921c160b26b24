"""GPU speed paths: autocast precision, channels-last memory format and ``torch.compile``.

One wrapper, :class:`FastModel`, carries the three settings; every part of advlab that runs a
model (training, attacks, evaluation, dataset construction) accepts it in place of the model:

* ``precision`` (``"fp32"``, ``"bf16"``, ``"fp16"``): the model's forward (and so its backward)
  runs under ``torch.autocast`` in that dtype. The outputs come back as float32, so everything
  computed from them (losses, input gradients, the norms of steps and perturbations, the
  projections onto eps balls and boxes) is float32.
* ``channels_last``: the model's 4-D weights and every 4-D input use the channels-last memory
  format (faster convolutions on tensor cores). The values are unchanged.
* ``compile``: the model is wrapped by ``torch.compile``.

Decisions are made in float32: :func:`full_precision` returns the model without autocast, and
:func:`advlab.attacks.base.predict_logits` (the clean predictions, the verification of every
attack's success, clean accuracy, transfer) and the final representation distances of the
inversion use it. A low precision can therefore change which examples an attack or an
inversion finds, never how their success or their distances are judged.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any, Literal, cast

import torch
from torch import Tensor, nn

from advlab.errors import AdvlabError, bad_argument

Precision = Literal["fp32", "bf16", "fp16"]
#: precision name -> the autocast dtype (``fp32``: no autocast)
PRECISIONS: dict[str, torch.dtype | None] = {
    "fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def device_type(device: str | torch.device) -> str:
    """``"cuda"`` for ``cuda:1``, ``"cpu"`` for ``cpu`` (the autocast device type)."""
    return torch.device(device).type


def check_precision(precision: str, device: str | torch.device = "cpu") -> Precision:
    """Validate ``precision`` and that autocast supports it on ``device``; return it.

    Raises:
        AdvlabError: an unknown name, or a dtype that autocast does not support on the device
            (naming the device and the precisions that work there).
    """
    if precision not in PRECISIONS:
        raise bad_argument("precision", precision, "one of " + ", ".join(PRECISIONS))
    dtype, kind = PRECISIONS[precision], device_type(device)
    if dtype is not None and not _autocast_works(dtype, kind):
        works = [p for p, d in PRECISIONS.items() if d is None or _autocast_works(d, kind)]
        raise bad_argument("precision", precision, "one of " + ", ".join(works),
                           f"autocast does not support {precision} on the device {str(device)!r}")
    return cast(Precision, precision)


def _autocast_works(dtype: torch.dtype, kind: str) -> bool:
    """Whether ``torch.autocast(kind, dtype)`` is available (it warns and disables itself
    for a dtype it does not support: taken as a no)."""
    if not torch.amp.autocast_mode.is_autocast_available(kind):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            with torch.autocast(kind, dtype=dtype):
                pass
        except (RuntimeError, UserWarning):
            return False
    return True


@contextlib.contextmanager
def autocast(precision: str, device: str | torch.device) -> Iterator[None]:
    """``torch.autocast`` in ``precision`` on ``device``'s type; nothing for ``fp32``."""
    dtype = PRECISIONS[check_precision(precision, device)]
    if dtype is None:
        yield
        return
    with torch.autocast(device_type(device), dtype=dtype):
        yield


def model_device(model: nn.Module) -> torch.device | None:
    """The device of the model's first parameter, else of its first buffer; None for a model
    that holds no tensors (inputs then stay where they are)."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return None


def follow_model(model: nn.Module, *tensors: Tensor | None) -> list[Tensor | None]:
    """The tensors moved to the model's device (None passes through): inputs follow the model."""
    dev = model_device(model)
    return [t if t is None or dev is None else t.to(dev) for t in tensors]


def _device_of(model: nn.Module) -> torch.device:
    return model_device(model) or torch.device("cpu")


def _to_float32(out: Any) -> Any:
    if isinstance(out, Tensor) and out.is_floating_point():
        return out.float()
    return out


class FastModel(nn.Module):
    """A model run with the speed paths; its parameters are the wrapped model's own.

    ``forward(x)`` and ``features(x)`` map images (N, C, H, W) to logits (N, K) and
    representations (N, D), always float32. ``inner`` is the wrapped model (compiled when
    ``compile`` was asked); ``model`` the original one (what is saved).
    """

    def __init__(self, model: nn.Module, *, precision: str = "fp32", channels_last: bool = False,
                 compile: bool = False) -> None:
        super().__init__()
        device = _device_of(model)
        self.precision: Precision = check_precision(precision, device)
        self._dtype = PRECISIONS[self.precision]  # checked once, not at every forward
        self.channels_last = bool(channels_last)
        self.compiled = bool(compile)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        self.model = model
        self.training = model.training  # the wrapper's own flag only: sub-modules keep theirs
        self.inner: nn.Module = cast(nn.Module, torch.compile(model)) if compile else model
        feats = getattr(model, "features", None)
        self._features: Any = torch.compile(feats) if compile and callable(feats) else feats
        for name in ("in_shape", "num_classes"):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))

    def _autocast(self, x: Tensor) -> contextlib.AbstractContextManager[Any]:
        if self._dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(x.device.type, dtype=self._dtype)

    def _input(self, x: Tensor) -> Tensor:
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def forward(self, x: Tensor) -> Any:
        """Logits (N, K), float32, of images ``x`` (N, C, H, W)."""
        with self._autocast(x):
            out = self.inner(self._input(x))
        return _to_float32(out)

    def features(self, x: Tensor) -> Tensor:
        """The wrapped model's ``features(x)`` (N, D), float32, under the same settings."""
        if not callable(self._features):
            raise AdvlabError(f"model: the model ({type(self.model).__name__}) has no features(x) "
                              "method", param="model")
        with self._autocast(x):
            out = self._features(self._input(x))
        return cast(Tensor, _to_float32(out))

    def extra_repr(self) -> str:
        return (f"precision={self.precision}, channels_last={self.channels_last}, "
                f"compile={self.compiled}")


def speed_paths(model: nn.Module, *, precision: str = "fp32", channels_last: bool = False,
                compile: bool = False) -> nn.Module:
    """``model`` run with the speed paths (a :class:`FastModel`), or ``model`` itself when
    every setting is off (fp32, contiguous, not compiled).

    The model should already be on its device: the precision is checked against it.
    ``channels_last`` converts the model's own 4-D weights in place (same values); with
    ``compile``, ``forward`` and ``features`` are compiled separately.
    """
    check_precision(precision, _device_of(model))
    if precision == "fp32" and not channels_last and not compile:
        return model
    return FastModel(model, precision=precision, channels_last=channels_last, compile=compile)


def full_precision(model: nn.Module) -> nn.Module:
    """The model without autocast (a :class:`FastModel`'s ``inner``): what judges success,
    accuracy and distances in float32. Any other model is returned unchanged."""
    return model.inner if isinstance(model, FastModel) else model


def describe(model: nn.Module) -> dict[str, Any]:
    """The speed-path settings of ``model``, for provenance: precision, channels_last, compile."""
    if isinstance(model, FastModel):
        return {"precision": model.precision, "channels_last": model.channels_last,
                "compile": model.compiled}
    return {"precision": "fp32", "channels_last": False, "compile": False}


__all__ = ["PRECISIONS", "FastModel", "Precision", "autocast", "check_precision", "describe",
           "device_type", "follow_model", "full_precision", "model_device", "speed_paths"]
