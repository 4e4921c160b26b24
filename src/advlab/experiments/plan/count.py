"""Counting one network on the meta device (FLOPs, saved activations, state) and this
CPU's FLOP/s; see :mod:`advlab.experiments.plan`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

Kind = Literal["train", "grad", "forward"]
Builder = Callable[[str], nn.Module]


@dataclass(frozen=True)
class Net:
    """A network a stage runs.

    Attributes:
        key: a unique label (architecture, arguments, input shape).
        build: ``build(device)`` -> the module on ``"meta"`` (counting) or ``"cpu"``.
        in_shape: one input, e.g. (3, 32, 32).
        dtype: the input dtype (float64 for the MFA / SVM modules).
        scale: measured FLOPs and activations are multiplied by this (a network counted
            in a smaller, proportional form: an MFA with fewer components).
        extra_bytes: memory the small form leaves out (the full form's parameters).
    """

    key: str
    build: Builder
    in_shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32
    scale: float = 1.0
    extra_bytes: int = 0


@dataclass(frozen=True)
class PassCost:
    """FLOPs of one batch (forward, backward) and the memory estimate, in bytes."""

    fwd: int
    bwd: int
    memory: int

    @property
    def flops(self) -> int:
        return self.fwd + self.bwd


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


class _Saved:
    """Collects the tensors autograd saves, once per storage, minus the parameters."""

    def __init__(self, params: set[int]) -> None:
        self.params, self.seen, self.bytes, self.largest = params, set[Any](), 0, 0

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        key = t.untyped_storage()._cdata
        if key not in self.params and key not in self.seen:
            self.seen.add(key)
            self.bytes += _nbytes(t)
            self.largest = max(self.largest, _nbytes(t))
        return t


def _loss(out: Any) -> torch.Tensor:
    out = out[0] if isinstance(out, tuple | list) else out
    return out.float().sum()


def _device(model: nn.Module) -> torch.device:
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("meta")


def _count(model: nn.Module, x: torch.Tensor, kind: Kind, saved: _Saved) -> tuple[int, int]:
    """(forward FLOPs, backward FLOPs) of one batch ``x``; activations go to ``saved``."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    with FlopCounterMode(display=False) as fc:
        if kind == "forward":
            with torch.no_grad():
                _probe_forward(model, x, saved)
            return fc.get_total_flops(), 0
        if kind == "grad":
            x.requires_grad_(True)
            for p in trainable:
                p.requires_grad_(False)
        with torch.autograd.graph.saved_tensors_hooks(saved.pack, lambda t: t):
            loss = _loss(model(x))
        fwd = fc.get_total_flops()
        if kind == "grad":
            loss.backward(inputs=[x])  # autograd.grad clashes with the counter's module hooks
        elif trainable:
            loss.backward()
        return fwd, fc.get_total_flops() - fwd


@dataclass(frozen=True)
class Profile:
    """A network's counts per image (FLOPs, saved activation bytes) and its state bytes."""

    fwd: float
    bwd_train: float
    bwd_grad: float
    saved_train: float
    saved_grad: float
    largest: float
    state_bytes: int
    input_bytes: int

    def cost(self, kind: Kind, batch: int, slots: int = 1) -> PassCost:
        """FLOPs of one batch and the memory estimate at ``batch``."""
        x = self.input_bytes * batch
        if kind == "forward":
            return PassCost(int(self.fwd * batch), 0, int(self.state_bytes + 3 * self.largest * batch + x))
        if kind == "grad":
            return PassCost(int(self.fwd * batch), int(self.bwd_grad * batch),
                            int(self.state_bytes + self.saved_grad * batch + 2 * x))
        return PassCost(int(self.fwd * batch), int(self.bwd_train * batch),
                        int(self.state_bytes * (2 + slots) + self.saved_train * batch + x))


def profile(net: Net, batch: int = 2) -> Profile:
    """Count ``net`` on one batch on the meta device (or, for a network whose builder
    cannot use it, on its small CPU form, then scaled): a training pass and an
    input-gradient pass. Counts scale with the batch, so one batch gives every size."""
    out: dict[str, tuple[int, int, _Saved]] = {}
    state = 0
    for kind in ("train", "grad"):
        model = net.build("meta").eval()
        params = list(model.parameters())
        state = sum(_nbytes(p) for p in params) + sum(_nbytes(b) for b in model.buffers())
        saved = _Saved({p.untyped_storage()._cdata for p in params})
        x = torch.zeros((batch, *net.in_shape), dtype=net.dtype, device=_device(model))
        out[kind] = (*_count(model, x, kind, saved), saved)
    s = net.scale / batch
    (fwd, bwd_t, sv_t), (_, bwd_g, sv_g) = out["train"], out["grad"]
    return Profile(fwd * s, bwd_t * s, bwd_g * s, sv_t.bytes * s, sv_g.bytes * s,
                   sv_t.largest * s, state + net.extra_bytes,
                   math.prod(net.in_shape) * torch.empty((), dtype=net.dtype).element_size())


def measure(net: Net, kind: Kind, batch: int, slots: int = 1) -> PassCost:
    """FLOPs and memory of one batch of ``kind`` passes (see :func:`profile`)."""
    return profile(net).cost(kind, batch, slots)


def _probe_forward(model: nn.Module, x: torch.Tensor, saved: _Saved) -> None:
    """A gradient-free forward that still reports its activation sizes to ``saved``."""
    hooks = [m.register_forward_hook(lambda _m, _i, o: _record(o, saved)) for m in model.modules()]
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()


def _record(out: Any, saved: _Saved) -> None:
    if isinstance(out, torch.Tensor):
        saved.largest = max(saved.largest, _nbytes(out))


class _Reference(nn.Module):
    """The CPU calibration workload: four 3x3 convolutions of 64 channels at 32 x 32
    (float32), or a 1024-wide matrix product (float64, like the MFA / SVM modules)."""

    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        if dtype == torch.float64:
            self.body: nn.Module = nn.Linear(1024, 1024, dtype=dtype)
        else:
            self.body = nn.Sequential(*[m for _ in range(4) for m in (nn.Conv2d(64, 64, 3, padding=1), nn.ReLU())])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(x)
        return out


def cpu_rate(dtype: torch.dtype) -> float:
    """FLOP/s of this CPU on the reference workload of ``dtype`` (:class:`_Reference`): one
    untimed forward + backward, then one timed; the rate is the counted FLOPs over the
    time. Under a shared, loaded machine this is the rate the run would get now."""
    shape, batch = ((1024,), 256) if dtype == torch.float64 else ((64, 32, 32), 4)
    net = Net(f"reference {dtype}", lambda d: _Reference(dtype).to(d), shape, dtype)
    flops = measure(net, "train", batch).flops
    model, seconds = _Reference(dtype), 0.0
    for _ in range(2):  # the second pass is the one timed
        x = torch.rand((batch, *shape), dtype=dtype, requires_grad=True)
        t0 = time.perf_counter()
        _loss(model(x)).backward()
        seconds = time.perf_counter() - t0
    return flops / max(seconds, 1e-6)


#: FLOPs of one training step of torchvision's ResNet-50 at 224 x 224, per image, as
#: FlopCounterMode counts them (:func:`resnet50_train_flops`; a test keeps them equal)
RESNET50_TRAIN_FLOPS = 24_299_077_632


def resnet50_train_flops() -> int:
    """Count :data:`RESNET50_TRAIN_FLOPS` again (seconds: a meta pass of ResNet-50)."""
    import torchvision.models as tvm

    with torch.device("meta"):
        net = tvm.resnet50()
    return measure(Net("tv-resnet50", lambda d: net, (3, 224, 224)), "train", 2).flops // 2


__all__ = ["Builder", "Kind", "Net", "PassCost", "Profile", "RESNET50_TRAIN_FLOPS", "cpu_rate",
           "measure", "profile", "resnet50_train_flops"]
