"""Round trips of foreign checkpoints through ``advlab models import``, measured.

For each architecture, a checkpoint is written by the real package in its own format
(random weights, non-trivial BatchNorm statistics, a scaled head so that logits are
O(10)), imported, loaded back with ``advlab.load_model``, and compared with the original
network on the same uniform [0, 1] images: the largest |logit difference| and, where the
original exposes it, the largest |feature difference|. A checkpoint that carries code is
also fed to the importer, to record its refusal.

    .venv/bin/python scripts/import_roundtrip.py --out docs/results/models-import/roundtrip.json
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import torch
from torch import nn

import advlab
from advlab.errors import AdvlabError
from advlab.models.foreign.robustbench import import_robustbench, zoo_entry
from advlab.models.foreign.robustness import import_robustness
from advlab.store import atomic_write_json

MEAN, STD = [0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]  # robustness' CIFAR constants
ROBUSTBENCH = [("Wong2020Fast", "Linf"), ("Standard", "Linf"),
               ("Engstrom2019Robustness", "Linf"), ("Engstrom2019Robustness", "L2")]


def randomise(net: nn.Module, scale: float = 40.0) -> None:
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    linears[-1].weight.data.mul_(scale)


def compare(ours: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    return {"max_abs_logit_diff": float((ours - ref).abs().max()),
            "max_abs_logit": float(ref.abs().max()),
            "same_argmax": float((ours.argmax(1) == ref.argmax(1)).float().mean())}


def robustness_case(arch: str, tmp: Path, x: torch.Tensor) -> dict[str, Any]:
    import dill
    from robustness import cifar_models
    from robustness.attacker import AttackerModel

    net = getattr(cifar_models, arch)(num_classes=10)
    randomise(net)
    wrapped = nn.DataParallel(AttackerModel(net, types.SimpleNamespace(
        mean=torch.tensor(MEAN), std=torch.tensor(STD))))
    opt = torch.optim.SGD(wrapped.parameters(), lr=0.1, momentum=0.9)
    path = tmp / f"robustness-{arch}.pt"
    torch.save({"model": wrapped.state_dict(), "optimizer": opt.state_dict(),
                "schedule": torch.optim.lr_scheduler.StepLR(opt, 50).state_dict(),
                "epoch": 150, "amp": None}, path, pickle_module=dill)
    t = time.perf_counter()
    rec = import_robustness(path, tmp / f"adv-{arch}")
    took = time.perf_counter() - t
    model, original = advlab.load_model(tmp / f"adv-{arch}"), wrapped.module.eval()
    with torch.no_grad():
        ref, latent = original(x, with_latent=True, with_image=False)
        out = compare(model(x), ref)
        out["max_abs_feature_diff"] = float((model.features(x) - latent).abs().max())
    return {"from": "robustness", "architecture": f"robustness.cifar_models.{arch}",
            "advlab_arch": rec["arch"], "import_seconds": round(took, 2),
            "import_record": rec, **out}


def robustbench_case(name: str, threat: str, tmp: Path, x: torch.Tensor) -> dict[str, Any]:
    net = zoo_entry(name, "cifar10", threat)["model"]()
    randomise(net)
    state = {"module." + k: v for k, v in net.state_dict().items() if k not in ("mu", "sigma")}
    path = tmp / f"{name}-{threat}.pt"
    torch.save({"state_dict": state}, path)
    t = time.perf_counter()
    rec = import_robustbench(name, path, tmp / f"adv-{name}-{threat}", threat_model=threat)
    took = time.perf_counter() - t
    model = advlab.load_model(tmp / f"adv-{name}-{threat}")
    with torch.no_grad():
        ref = net.eval()(x)
        out = compare(model(x), ref)
        out["max_abs_head_features_diff"] = float((model.head(model.features(x)) - ref).abs().max())
    return {"from": "robustbench", "architecture": f"{name} ({type(net).__name__}, cifar10 {threat})",
            "parameters": sum(p.numel() for p in net.parameters()),
            "import_seconds": round(took, 2), "import_record": rec, **out}


def refusal(tmp: Path) -> dict[str, str]:
    torch.save({"model": nn.Linear(2, 2)}, tmp / "carries-code.pt")  # a pickled module
    try:
        import_robustness(tmp / "carries-code.pt", tmp / "never")
    except AdvlabError as e:
        return {"file": "torch.save({'model': nn.Linear(2, 2)})", "error": str(e)}
    raise SystemExit("a checkpoint that carries code was NOT refused")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--images", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)  # the networks' initial weights
    x = torch.rand(args.images, 3, 32, 32, generator=torch.Generator().manual_seed(123))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cases = [robustness_case(a, tmp, x) for a in ("ResNet50", "ResNet18")]
        cases += [robustbench_case(n, t, tmp, x) for n, t in ROBUSTBENCH]
        refused = refusal(tmp)
    for c in cases:
        c["import_record"] = {k: v for k, v in c["import_record"].items() if k not in ("path", "out")}
        print(f"{c['architecture']}: largest |logit diff| {c['max_abs_logit_diff']:.3g} "
              f"(logits up to {c['max_abs_logit']:.3g})", flush=True)
    import importlib.metadata as md
    doc = {"command": "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:]),
           "images": args.images, "inputs": "uniform [0, 1], seed 123",
           "versions": {p: md.version(p) for p in ("torch", "robustness", "robustbench", "timm")},
           "machine": platform.machine(), "cases": cases, "refusal": refused}
    atomic_write_json(args.out, doc)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
