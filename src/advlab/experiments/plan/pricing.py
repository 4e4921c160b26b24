"""Pricing the works of a stage: GPU time at a stated rate, CPU time from the calibration,
scikit-learn fits; see :mod:`advlab.experiments.plan`."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from advlab.experiments.plan.count import (
    RESNET50_TRAIN_FLOPS,
    Kind,
    Net,
    PassCost,
    Profile,
    cpu_rate,
    profile,
)
from advlab.seeding import generator


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
#: network (torchvision resnet50: 24.3 GFLOP per image) they give the sustained rates below.
A100_TF32_IMG_S, A100_AMP_IMG_S = 938.0, 2470.0
#: A100 peaks (dense): TF32 156, bf16 312, FP64 tensor core 19.5 TFLOP/s.
A100_PEAKS = {"tf32": 156e12, "bf16": 312e12, "fp64": 19.5e12}


def a100() -> Gpu:
    """The A100 80GB with rates from :data:`A100_TF32_IMG_S` / :data:`A100_AMP_IMG_S`;
    float64 at the TF32 fraction of the FP64 peak (an assumption: no published figure)."""
    per_image = RESNET50_TRAIN_FLOPS
    fp32 = A100_TF32_IMG_S * per_image
    return Gpu("NVIDIA A100 80GB (SXM)", fp32, A100_AMP_IMG_S * per_image,
               A100_PEAKS["fp64"] * fp32 / A100_PEAKS["tf32"],
               "ResNet-50 training throughput published by NVIDIA (DeepLearningExamples, "
               "PyTorch ResNet-50 v1.5, 1x A100 80GB: TF32 938 img/s, AMP 2470 img/s) x the "
               "FLOPs FlopCounterMode counts per training image (torchvision resnet50, 224 px)")


#: the scikit-learn calibration fit: samples and (at most) features
FIT_N0, FIT_D0 = 400, 256


def fit_seconds(kind: str, n: int, dim: int, cache: dict[str, float]) -> float:
    """Seconds of one scikit-learn SVC fit on ``n`` samples of ``dim`` features: one timed
    fit on FIT_N0 samples of min(dim, FIT_D0) features (two overlapping Gaussian classes),
    scaled by ``(n / n0) ** 2 * dim / d0`` (SMO's kernel evaluations grow at least
    quadratically in n and linearly in the features: a lower bound for large n)."""
    d0 = min(dim, FIT_D0)
    if kind not in cache:
        from sklearn.svm import SVC

        g = generator(0)
        y = torch.arange(FIT_N0) % 2
        x = torch.randn((FIT_N0, d0), generator=g, dtype=torch.float64) + 0.25 * (2 * y[:, None] - 1)
        t0 = time.perf_counter()
        SVC(kernel=kind, gamma="scale").fit(x.numpy(), y.numpy())
        cache[kind] = (time.perf_counter() - t0) / (FIT_N0 ** 2 * d0)
    return cache[kind] * n ** 2 * dim


class Pricer:
    """Prices works and fits, caching every measurement (a plan measures each once)."""

    def __init__(self, gpu: Gpu, calibrate: bool = True) -> None:
        self.gpu, self.calibrate = gpu, calibrate
        self.profiles: dict[str, Profile] = {}
        self.costs: dict[tuple[str, str, int, int], PassCost] = {}
        self.rates: dict[str, float] = {}
        self.fits: dict[str, float] = {}

    def preset(self, w: Work, cost: PassCost) -> None:
        """Price ``w`` with a cost measured elsewhere (work that is not a network pass)."""
        self.costs[(w.net.key, w.kind, w.batch, w.slots)] = cost

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
            "gpu_seconds_all_on_gpu": flops / gpu_rate,  # if every pass followed --device
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
            "gpu_seconds_all_on_gpu": sum(w["gpu_seconds_all_on_gpu"] for w in works),
            "cpu_seconds": sum(w["cpu_seconds"] for w in works) + fit_s,
        })
    return out


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums over the stages (seconds and hours)."""
    keys = ("forward_passes", "backward_passes", "flops", "gpu_seconds", "gpu_seconds_bf16",
            "cpu_seconds_in_gpu_run", "cpu_seconds", "gpu_seconds_all_on_gpu")
    out: dict[str, Any] = {k: sum(r[k] for r in rows) for k in keys}
    out["peak_memory_bytes"] = max((r["memory_bytes"] for r in rows), default=0)
    for k in ("gpu_seconds", "gpu_seconds_bf16", "cpu_seconds_in_gpu_run", "cpu_seconds",
              "gpu_seconds_all_on_gpu"):
        out[k.replace("seconds", "hours")] = out[k] / 3600
    return out


def iter_works(stages: list[StagePlan]) -> Iterator[Work]:
    for st in stages:
        yield from st.works


__all__ = ["A100_AMP_IMG_S", "A100_PEAKS", "A100_TF32_IMG_S", "Fit", "Gpu", "Pricer", "StagePlan",
           "Work", "a100", "fit_seconds", "iter_works", "price", "totals"]
