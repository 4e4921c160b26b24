"""Dataset sizes for a plan, the plan as JSON and as a table, and its stated assumptions;
see :mod:`advlab.experiments.plan`."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import torch

from advlab.experiments.plan.pricing import Gpu, Pricer, StagePlan, price, totals

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
        c, h, w = tr.fetch(tr.index[:1]).shape[1:]
        shape = (c, h, w)
        return DatasetFacts(name, shape, len(tr), len(te), len(tr.classes), tr.counts())
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


FORMAT = "advlab.plan/1"


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def _num(n: float) -> str:
    if not math.isfinite(n):
        return "n/a"
    for unit, size in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.3g}"


def _rate(flops_per_s: float) -> str:
    return f"{_num(flops_per_s)}FLOP/s" if math.isfinite(flops_per_s) else "(not measured)"


def assumptions(gpu: Gpu, pricer: Pricer) -> list[str]:
    """The stated assumptions every plan carries."""
    f32, f64 = pricer.rates.get(str(torch.float32), math.nan), pricer.rates.get(str(torch.float64), math.nan)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    return [
        "FLOPs: torch.utils.flop_counter.FlopCounterMode on one batch on the meta device (a "
        "multiply-add counts 2; elementwise ops, normalisation, optimizer updates, data "
        "loading and augmentation are not counted).",
        f"GPU: one {gpu.name}. advlab computes in float32 (TF32 convolutions on Ampere, "
        f"PyTorch's default): {gpu.fp32_flops / 1e12:.1f} TFLOP/s sustained; the bf16 column "
        f"assumes bf16 autocast at {gpu.bf16_flops / 1e12:.1f} TFLOP/s; float64 work (MFA EM, "
        f"Bayes-optimal classifier, SVM modules) at {gpu.fp64_flops / 1e12:.2f} TFLOP/s, the "
        "FP64 peak (19.5) times the TF32 fraction of its peak (an assumption). Source: "
        + gpu.source + ".",
        "Every network is assumed to reach ResNet-50's sustained rate; small networks, small "
        "images and small batches usually run below it, so the GPU hours are a lower bound "
        "for the GPU part.",
        f"CPU: this machine now ({torch.get_num_threads()} threads, load average {load:.1f}): "
        f"{_rate(f32)} float32, {_rate(f64)} float64, measured on a reference workload "
        "(advlab.experiments.plan.cpu_rate); scikit-learn SVM fits from one timed fit on 400 "
        "samples of 256 features scaled by (n / 400)^2 x features / 256 (a lower bound).",
        "Memory: per stage the largest of its passes at the configured batch size: "
        "parameters (+ gradients and optimizer state when training) + the tensors autograd "
        "saves for the backward + the input batch, counted on the meta device; without the "
        "CUDA context (~0.5 GiB), cuDNN workspaces, fragmentation and the dataset itself.",
        "Passes = images x steps x epochs; attacks and optimisations that stop early are "
        "counted as if they ran every step (upper bounds).",
    ]


def assemble(recipe: str, config: Any, stages: list[StagePlan], pricer: Pricer,
             notes: list[str], host_bytes: int, seconds: float | None = None) -> dict[str, Any]:
    """The plan as JSON: every stage priced, the totals, the assumptions and notes."""
    from advlab.experiments.engine import config_dict

    rows = price(stages, pricer)
    return {"format": FORMAT, "recipe": recipe, "config": config_dict(config),
            "gpu": {"name": pricer.gpu.name, "fp32_flops": pricer.gpu.fp32_flops,
                    "bf16_flops": pricer.gpu.bf16_flops, "fp64_flops": pricer.gpu.fp64_flops},
            "cpu_flops": {k: v for k, v in pricer.rates.items() if k.startswith("torch.")},
            "dataset_host_bytes": host_bytes, "stages": rows, "totals": totals(rows),
            "assumptions": assumptions(pricer.gpu, pricer), "notes": notes,
            "seconds": seconds}


def render(plan: dict[str, Any]) -> str:
    """The plan as a text table, totals, assumptions and notes."""
    head = f"{'stage':34s} {'fwd':>8s} {'bwd':>8s} {'FLOPs':>8s} {'memory':>9s} " \
           f"{'GPU h':>8s} {'bf16 h':>8s} {'CPU h*':>8s} {'CPU h':>9s}"
    lines = [f"cost plan of {plan['recipe']} ({plan['config'].get('scale')}, "
             f"{plan['config'].get('dataset')}) on one {plan['gpu']['name']}", head]
    for r in [*plan["stages"], {"stage": "total", **plan["totals"],
                                "memory_bytes": plan["totals"]["peak_memory_bytes"]}]:
        lines.append(f"{r['stage'][:34]:34s} {_num(r['forward_passes']):>8s} "
                     f"{_num(r['backward_passes']):>8s} {_num(r['flops']):>8s} "
                     f"{_gib(r['memory_bytes']):>9s} {r['gpu_seconds'] / 3600:8.2f} "
                     f"{r['gpu_seconds_bf16'] / 3600:8.2f} {r['cpu_seconds_in_gpu_run'] / 3600:8.1f} "
                     f"{r['cpu_seconds'] / 3600:9.1f}")
    lines += ["", "GPU h: GPU work at the float32 rate; bf16 h: at the bf16 rate; CPU h*: work that "
              "stays on the CPU in a GPU run; CPU h: the whole run on this CPU.",
              f"if every pass followed --device (the CPU-only work on the GPU): "
              f"{plan['totals']['gpu_hours_all_on_gpu']:.2f} GPU h and only the SVM fits on the CPU",
              f"dataset in host memory (float32): {_gib(plan['dataset_host_bytes'])}", "",
              "assumptions:", *[f"- {a}" for a in plan["assumptions"]]]
    if plan["notes"]:
        lines += ["notes:", *[f"- {n}" for n in plan["notes"]]]
    return "\n".join(lines)


__all__ = ["FORMAT", "DatasetFacts", "assemble", "assumptions", "dataset_facts", "render"]
