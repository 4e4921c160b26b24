"""The cost plan of a recipe run, computed before (and instead of) the run: ``--plan``.

A recipe's planner lists, for every stage of its stage list, the network passes the stage
makes (:class:`Work`: image-passes = images x steps x epochs, the batch size, the kind of
pass) and its scikit-learn fits (:class:`Fit`). This module prices them:

* **FLOPs** of one batch of every (network, kind, batch size), counted by
  ``torch.utils.flop_counter.FlopCounterMode`` on the meta device (shapes only: nothing is
  allocated or computed; a multiply-add counts 2). ``train`` is a forward and a backward to
  the weights; ``grad`` a forward and a backward to the input only (attacks, inversion);
  ``forward`` a forward without gradient.
* **Memory** at the configured batch size, an estimate from the same meta run: parameters
  (+ gradients and optimizer state for ``train``) + the tensors autograd saves for the
  backward (hooked with ``saved_tensors_hooks``, counted once per storage) + the input
  batch; a ``forward`` counts three times its largest activation instead. Not counted:
  the CUDA context (~0.5 GB), cuDNN workspaces, allocator fragmentation, the dataset.
* **GPU time** at a stated sustained throughput of a named GPU class (:data:`GPUS`),
  derived from a published measurement; float64 work at the stated float64 rate.
* **CPU time** from a short measured calibration on this machine: one timed forward and
  backward of a reference workload per dtype (:func:`cpu_rate`) gives the FLOP/s every
  network of that dtype is assumed to reach here; scikit-learn fits from one timed small
  fit (:func:`fit_seconds`).

Work marked ``cpu_only`` runs on the CPU even with ``--device cuda`` (as the code runs
today); a GPU run adds its CPU time to the GPU time.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
class Work:
    """One kind of pass of one stage: ``passes`` image-passes in batches of ``batch``."""

    what: str
    net: Net
    kind: Kind
    passes: int
    batch: int
    slots: int = 1  # optimizer state per parameter (SGD momentum 1, Adam 2)
    cpu_only: bool = False


@dataclass(frozen=True)
class Fit:
    """A scikit-learn SVM fit (CPU only): ``count`` fits on ``n`` samples of ``dim`` features."""

    what: str
    kind: str  # "linear" | "rbf"
    n: int
    dim: int
    count: int = 1


@dataclass
class StagePlan:
    """What one stage of the recipe costs (filled by :func:`price`)."""

    name: str
    works: list[Work] = field(default_factory=list)
    fits: list[Fit] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class Gpu:
    """A GPU class and the sustained rates assumed for it."""

    name: str
    fp32_flops: float  # sustained, for the float32 work as advlab runs it today (TF32)
    bf16_flops: float  # sustained with bf16 autocast
    fp64_flops: float  # sustained, float64 work
    source: str


#: NVIDIA's published ResNet-50 v1.5 training throughput on one A100 80GB (PyTorch,
#: DeepLearningExamples, ImageNet 224 x 224, NGC 21.03): TF32 938 img/s, mixed precision
#: 2470 img/s. Multiplied by the FLOPs FlopCounterMode counts for a training step of that
#: network (torchvision resnet50: 24.5 GFLOP per image) they give the sustained rates below.
A100_TF32_IMG_S, A100_AMP_IMG_S = 938.0, 2470.0
#: A100 peaks (dense): TF32 156, bf16 312, FP64 tensor core 19.5 TFLOP/s.
A100_PEAKS = {"tf32": 156e12, "bf16": 312e12, "fp64": 19.5e12}


@functools.cache
def resnet50_train_flops() -> int:
    """FLOPs of one training step of torchvision's ResNet-50 at 224 x 224, per image."""
    import torchvision.models as tvm

    with torch.device("meta"):
        net = tvm.resnet50()
    return measure(Net("tv-resnet50", lambda d: net, (3, 224, 224)), "train", 2).flops // 2


def a100() -> Gpu:
    """The A100 80GB with rates from :data:`A100_TF32_IMG_S` / :data:`A100_AMP_IMG_S`;
    float64 at the TF32 fraction of the FP64 peak (an assumption: no published figure)."""
    per_image = resnet50_train_flops()
    fp32 = A100_TF32_IMG_S * per_image
    return Gpu("NVIDIA A100 80GB (SXM)", fp32, A100_AMP_IMG_S * per_image,
               A100_PEAKS["fp64"] * fp32 / A100_PEAKS["tf32"],
               "ResNet-50 training throughput published by NVIDIA (DeepLearningExamples, "
               "PyTorch ResNet-50 v1.5, 1x A100 80GB: TF32 938 img/s, AMP 2470 img/s) x the "
               "FLOPs FlopCounterMode counts per training image (torchvision resnet50, 224 px)")


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
        out[kind] = (*_count(model, x, kind, saved), saved)  # type: ignore[arg-type]
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


def fit_seconds(kind: str, n: int, dim: int, cache: dict[tuple[str, int], float]) -> float:
    """Seconds of one scikit-learn SVC fit on ``n`` samples of ``dim`` features, from a
    measured fit on ``n0 = min(n, 400)`` samples scaled by ``(n / n0) ** 2`` (the kernel
    evaluations of SMO grow at least quadratically: a lower bound for large n)."""
    n0 = min(n, 400)
    if (kind, dim) not in cache:
        from sklearn.svm import SVC

        g = torch.Generator().manual_seed(0)
        y = torch.arange(n0) % 2
        x = torch.rand((n0, dim), generator=g, dtype=torch.float64) * 0.5 + 0.5 * y[:, None]
        t0 = time.perf_counter()
        SVC(kernel=kind, gamma="scale").fit(x.numpy(), y.numpy())
        cache[(kind, dim)] = (time.perf_counter() - t0) / n0 ** 2
    return cache[(kind, dim)] * n ** 2


class Pricer:
    """Prices works and fits, caching every measurement (a plan measures each once)."""

    def __init__(self, gpu: Gpu, calibrate: bool = True) -> None:
        self.gpu, self.calibrate = gpu, calibrate
        self.profiles: dict[str, Profile] = {}
        self.costs: dict[tuple[str, str, int, int], PassCost] = {}
        self.rates: dict[str, float] = {}
        self.fits: dict[tuple[str, int], float] = {}

    def preset(self, w: Work, cost: PassCost, cpu_flops_per_s: float) -> None:
        """Price ``w`` with a cost measured elsewhere (work that is not a network pass)."""
        self.costs[(w.net.key, w.kind, w.batch, w.slots)] = cost
        self.rates[w.net.key] = cpu_flops_per_s

    def cost(self, w: Work) -> PassCost:
        key = (w.net.key, w.kind, w.batch, w.slots)
        if key not in self.costs:
            if w.net.key not in self.profiles:
                self.profiles[w.net.key] = profile(w.net)
            self.costs[key] = self.profiles[w.net.key].cost(w.kind, w.batch, w.slots)
        return self.costs[key]

    def cpu(self, net: Net) -> float:
        """This CPU's FLOP/s for ``net``: the calibration of its dtype (or a preset rate)."""
        if net.key in self.rates:
            return self.rates[net.key]
        key = str(net.dtype)
        if key not in self.rates:
            self.rates[key] = cpu_rate(net.dtype) if self.calibrate else math.nan
        return self.rates[key]

    def work(self, w: Work) -> dict[str, Any]:
        c = self.cost(w)
        per_image = c.flops / w.batch
        flops = per_image * w.passes
        gpu_rate = self.gpu.fp64_flops if w.net.dtype == torch.float64 else self.gpu.fp32_flops
        bf16_rate = gpu_rate if w.net.dtype == torch.float64 else self.gpu.bf16_flops
        cpu_s = flops / self.cpu(w.net)
        return {
            "what": w.what, "network": w.net.key, "kind": w.kind, "passes": w.passes,
            "forward_passes": w.passes, "backward_passes": 0 if w.kind == "forward" else w.passes,
            "batch": w.batch, "flops_per_image": per_image, "flops": flops,
            "memory_bytes": c.memory, "cpu_only": w.cpu_only, "cpu_seconds": cpu_s,
            "gpu_seconds": 0.0 if w.cpu_only else flops / gpu_rate,
            "gpu_seconds_bf16": 0.0 if w.cpu_only else flops / bf16_rate,
            "cpu_seconds_in_gpu_run": cpu_s if w.cpu_only else 0.0,
        }

    def fit(self, f: Fit) -> dict[str, Any]:
        s = f.count * fit_seconds(f.kind, f.n, f.dim, self.fits) if self.calibrate else math.nan
        return {"what": f.what, "kind": f.kind, "n": f.n, "dim": f.dim, "count": f.count,
                "cpu_seconds": s}


def price(stages: list[StagePlan], pricer: Pricer) -> list[dict[str, Any]]:
    """Every stage with its works, fits and totals (JSON-able)."""
    out = []
    for st in stages:
        works = [pricer.work(w) for w in st.works]
        fits = [pricer.fit(f) for f in st.fits]
        fit_s = sum(f["cpu_seconds"] for f in fits)
        out.append({
            "stage": st.name, "note": st.note, "works": works, "fits": fits,
            "forward_passes": sum(w["forward_passes"] for w in works),
            "backward_passes": sum(w["backward_passes"] for w in works),
            "flops": sum(w["flops"] for w in works),
            "memory_bytes": max((w["memory_bytes"] for w in works), default=0),
            "gpu_seconds": sum(w["gpu_seconds"] for w in works),
            "gpu_seconds_bf16": sum(w["gpu_seconds_bf16"] for w in works),
            "cpu_seconds_in_gpu_run": sum(w["cpu_seconds_in_gpu_run"] for w in works) + fit_s,
            "cpu_seconds": sum(w["cpu_seconds"] for w in works) + fit_s,
        })
    return out


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums over the stages (seconds and hours)."""
    keys = ("forward_passes", "backward_passes", "flops", "gpu_seconds", "gpu_seconds_bf16",
            "cpu_seconds_in_gpu_run", "cpu_seconds")
    out: dict[str, Any] = {k: sum(r[k] for r in rows) for k in keys}
    out["peak_memory_bytes"] = max((r["memory_bytes"] for r in rows), default=0)
    for k in ("gpu_seconds", "gpu_seconds_bf16", "cpu_seconds_in_gpu_run", "cpu_seconds"):
        out[k.replace("seconds", "hours")] = out[k] / 3600
    return out


#: ImageNet's 1,281,167 training images over 1,000 classes, per class (the Restricted
#: ImageNet size estimate when the files are not at hand); val holds exactly 50 per class
IMAGENET_TRAIN_PER_CLASS = 1281167 / 1000
IMAGENET_VAL_PER_CLASS = 50


@dataclass
class DatasetFacts:
    """What a plan needs of a dataset: one image's shape, split sizes, classes, and the
    per-class training counts where known (``notes`` says what is estimated)."""

    name: str
    shape: tuple[int, int, int]
    n_train: int
    n_test: int
    num_classes: int
    train_counts: list[int] | None = None
    notes: list[str] = field(default_factory=list)


def dataset_facts(name: str, data_root: str | None = None) -> DatasetFacts:
    """Sizes from the registry (no file read); with the files at hand (``data_root``) the
    labels are read for exact counts. Restricted ImageNet without files is estimated
    from ImageNet's class sizes; a class pair or attribute without files is assumed to
    split evenly."""
    from advlab.data import REGISTRY, open_source
    from advlab.data.imagenet import RANGES
    from advlab.data.spec import parse_name
    from advlab.errors import AdvlabError

    spec = parse_name(name, REGISTRY)
    info = None if spec.is_folder else REGISTRY.get(spec.base)
    try:
        tr, te = open_source(name, "train", data_root), open_source(name, "test", data_root)
    except AdvlabError:
        if info is None:
            raise
    else:
        shape = tuple(tr.fetch(tr.index[:1]).shape[1:])
        return DatasetFacts(name, shape, len(tr), len(te), len(tr.classes), tr.counts())  # type: ignore[arg-type]
    notes = [f"{name}: files not read (no --data-root); sizes from the registry"]
    n_classes = len(info.classes)
    n_train, n_test = info.n_train, info.n_test
    if n_train is None or n_test is None:  # restricted-imagenet
        wnids = sum(hi - lo + 1 for _, lo, hi in RANGES)
        n_train, n_test = round(wnids * IMAGENET_TRAIN_PER_CLASS), wnids * IMAGENET_VAL_PER_CLASS
        notes.append(f"{name}: {n_train:,} training images estimated as {wnids} ImageNet classes "
                     f"x 1,281 (ImageNet's mean); test = {wnids} x 50 validation images")
    if spec.arg is not None:
        frac = 1.0 if spec.base == "celeba" else 2 / n_classes
        n_train, n_test, n_classes = round(n_train * frac), round(n_test * frac), 2
        notes.append(f"{name}: the two classes assumed equally frequent")
    counts = [n_train // n_classes] * n_classes
    return DatasetFacts(name, info.shape, n_train, n_test, n_classes, counts, notes)


def iter_works(stages: list[StagePlan]) -> Iterator[Work]:
    for st in stages:
        yield from st.works


__all__ = ["A100_AMP_IMG_S", "A100_PEAKS", "A100_TF32_IMG_S", "DatasetFacts", "Fit", "Gpu", "Net", "PassCost",
           "Pricer", "Profile", "StagePlan", "Work", "a100", "cpu_rate", "dataset_facts", "fit_seconds", "iter_works",
           "measure", "price", "profile", "resnet50_train_flops", "totals"]
