"""Nothing falls back to the CPU silently: attacks, constructions, LD-Grad and the SVMs run on
the model's device, and inputs follow the model.

This machine has no GPU, so two checks stand in for one:

* every ``.cpu()`` / ``device="cpu"`` / ``.to("cpu")`` in the paths that run on the model's
  device is listed below with the reason it is not a fallback; a new one fails the test;
* the inner loops run end to end on the ``meta`` device (shapes only, no data): a tensor
  moved to the CPU on the way would meet a meta tensor and raise, or come back on the CPU.
  (Autocast does not exist on ``meta``: a low precision there is refused, as tested.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from advlab.attacks.base import _on_model_device, predict_logits
from advlab.attacks.pgd import pgd_perturb
from advlab.features.robustify import inversion_step
from advlab.precision import follow_model, model_device, speed_paths

SRC = Path(__file__).resolve().parents[1] / "src" / "advlab"
#: the files whose tensors live on the model's device
DEVICE_PATHS = [*sorted((SRC / "attacks").glob("*.py")), SRC / "bayes" / "ldgrad.py",
                SRC / "models" / "svm.py", SRC / "features" / "robustify.py",
                SRC / "features" / "relabel.py", SRC / "precision.py",
                *sorted((SRC / "experiments" / "richardson2020").glob("*.py")),
                SRC / "train" / "loop.py", SRC / "train" / "evaluation.py", SRC / "train" / "trades.py",
                SRC / "evaluate" / "accuracy.py", SRC / "evaluate" / "autoattack.py"]
CPU = re.compile(r"\.cpu\(\)|device=\"cpu\"|device='cpu'|\.to\(\"cpu\"\)")
#: (file, a piece of the line) -> why it is not a fallback
ALLOWED: dict[tuple[str, str], str] = {
    ("threat.py", "u = torch.rand(like.shape, generator"): "seeded CPU draw, moved to like.device "
        "on the next line: the same random start on every device",
    ("threat.py", "g = torch.randn(like.shape"): "seeded CPU draw, .to(like.device) on the line",
    ("threat.py", "u = torch.rand(like.shape[0]"): "seeded CPU draw, moved to like.device",
    ("fab.py", "radius = torch.minimum(best"): "scales a seeded CPU draw; the product goes "
        ".to(x0) on the next line",
    ("svm.py", "z = x.detach().flatten(1).double().cpu().numpy()"): "scikit-learn fits on numpy",
    ("svm.py", "labels = y.detach().cpu().numpy()"): "scikit-learn fits on numpy",
    ("robustify.py", "parts.append(RepDistance(*(t.cpu()"): "per-sample statistics returned "
        "on the CPU (documented), after the computation",
    ("relabel.py", "t_all = choose_targets(y.cpu()"): "targets drawn from a seeded CPU generator, "
        "moved to the device per batch",
    ("relabel.py", "reached.append("): "per-sample result returned on the CPU (documented)",
    ("relabel.py", "norms.append("): "per-sample result returned on the CPU (documented)",
    ("loop.py", "sha256_bytes(x.detach().cpu()"): "hashes the training data for the run identity",
    ("loop.py", "+ y.detach().cpu()"): "hashes the training data for the run identity",
}


def test_every_cpu_move_in_the_device_paths_is_explained() -> None:
    found = set()
    unexplained = []
    for path in DEVICE_PATHS:
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if not CPU.search(line):
                continue
            key = next((k for k in ALLOWED if k[0] == path.name and k[1] in line), None)
            if key is None:
                unexplained.append(f"{path.relative_to(SRC)}:{i}: {line.strip()}")
            else:
                found.add(key)
    assert not unexplained, "a move to the CPU in a device path (explain it in ALLOWED or " \
        "keep the tensor on the model's device):\n" + "\n".join(unexplained)
    assert found == set(ALLOWED), f"stale ALLOWED entries: {set(ALLOWED) - found}"


def test_the_grep_catches_a_fallback(tmp_path: Path) -> None:
    line = "    x = x.cpu()  # a silent fallback"
    assert CPU.search(line) and not any(k[1] in line for k in ALLOWED)


def _meta_cnn() -> nn.Module:
    from advlab.models import build_model

    return build_model("cnn", in_shape=(1, 28, 28), num_classes=10).to("meta").eval()


def test_inputs_follow_the_model_to_its_device() -> None:
    model = _meta_cnn()
    assert model_device(model) == torch.device("meta")
    x, y = torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)
    xs, ys, ts = _on_model_device(model, x, y, None)
    assert xs.device.type == ys.device.type == "meta" and ts is None
    assert [t.device.type for t in follow_model(model, x, None) if t is not None] == ["meta"]
    assert follow_model(nn.Identity(), x)[0] is x  # a model without tensors: inputs stay
    assert predict_logits(model, xs).device.type == "meta"


@pytest.mark.parametrize("channels_last", [False, True])
def test_pgd_runs_on_the_models_device(channels_last: bool) -> None:
    model = speed_paths(_meta_cnn(), channels_last=channels_last)
    x = torch.empty(4, 1, 28, 28, device="meta")
    y = torch.zeros(4, dtype=torch.long, device="meta")
    for norm in ("l2", "linf"):
        xa = pgd_perturb(model, x, y, norm=norm, eps=0.5, steps=2, step_size=0.1, random_start=True,
                         target=None, generator=torch.Generator().manual_seed(0))
        assert xa.device.type == "meta" and xa.shape == x.shape and xa.dtype == torch.float32


def test_a_precision_the_device_lacks_is_refused_not_ignored() -> None:
    from advlab.errors import AdvlabError

    with pytest.raises(AdvlabError, match="autocast does not support bf16 on the device 'meta'"):
        speed_paths(_meta_cnn(), precision="bf16")


def test_inversion_step_runs_on_the_models_device() -> None:
    model = speed_paths(_meta_cnn(), channels_last=True)
    x = torch.empty(3, 1, 28, 28, device="meta")
    target = torch.empty(3, model.features(x).shape[1], device="meta")  # type: ignore[operator]
    nxt = inversion_step(model, x, target, 0.1)
    assert nxt.device.type == "meta" and nxt.shape == x.shape


def test_trades_runs_on_the_models_device() -> None:
    from advlab.train.trades import trades_perturb

    model = _meta_cnn()
    x = torch.empty(4, 1, 28, 28, device="meta")
    xa = trades_perturb(model, x, norm="l2", eps=0.5, steps=2, step_size=0.1, box=None)
    assert xa.device.type == "meta"


def test_svm_and_bayes_optimal_forward_on_the_models_device() -> None:
    from advlab.models import fit_svm

    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, 4, 4, generator=g)
    y = (x.flatten(1).mean(1) > 0.5).long()
    y[:2] = torch.tensor([0, 1])
    for kind in ("linear", "rbf"):
        svm = fit_svm(x, y, kind=kind).to("meta")
        assert svm(x.to("meta")).device.type == "meta"


def test_richardson2020_attacks_run_on_the_runs_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """evaluate_model moves a CPU-built model (Bayes-optimal, SVMs) to the run's device and the
    attacked points follow it; train_cnn returns the CNN where it was trained (no ``.cpu()``)."""
    import inspect

    from advlab.experiments.richardson2020 import attack, models

    seen: list[tuple[str, str, str]] = []

    class Stop(Exception):
        pass

    def spy(model: nn.Module, kind: str, x: torch.Tensor, y: torch.Tensor, *a: object) -> None:
        dev = model_device(model)
        seen.append((str(dev.type if dev else None), x.device.type, y.device.type))
        raise Stop

    monkeypatch.setattr(attack, "run_attacks", spy)
    x, y = torch.rand(6, 1, 28, 28), torch.zeros(6, dtype=torch.long)
    from advlab.models import build_model

    cnn = build_model("cnn", in_shape=(1, 28, 28), num_classes=2)
    with pytest.raises(Stop):
        attack.evaluate_model(cnn, "cnn", x, y, 4, attack.AttackSettings(), device="meta")
    assert seen == [("meta", "meta", "meta")]
    assert ".cpu()" not in inspect.getsource(models.train_cnn)


def test_gpu_benchmark_smoke(tmp_path: Path) -> None:
    """benchmarks/gpu.py --smoke: every eager configuration measured, the compiled ones listed
    as skipped with the reason, one JSON written (the real run needs a GPU)."""
    import json
    import sys

    sys.path.insert(0, str(SRC.parents[1] / "benchmarks"))
    import gpu

    threads = torch.get_num_threads()
    try:
        gpu.main(["--smoke", "--out", str(tmp_path / "gpu.json")])
    finally:
        torch.set_num_threads(threads)
    doc = json.loads((tmp_path / "gpu.json").read_text())
    assert set(doc["results"]) == {"fp32", "bf16", "bf16+channels_last"}
    assert set(doc["skipped"]) == {"fp32+compile", "bf16+compile", "bf16+channels_last+compile"}
    for r in doc["results"].values():
        assert all(v > 0 for v in r["image_steps_per_s"].values())
        assert set(r["ratio_to_forward_backward"]) == {"pgd", "construct"}
    assert doc["results"]["fp32"]["speedup_over_fp32_eager"]["pgd"] == 1.0
    assert doc["command"] == "python benchmarks/gpu.py --smoke"
