"""Checkpoint imports: files written by the real `robustness` and `robustbench` packages,
logits equal after import, refusal of files that carry code, the CLI, and an imported
model as the source of D_R construction."""

from __future__ import annotations

import json
import math
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import advlab
import advlab.models.foreign
from advlab.cli import main
from advlab.errors import AdvlabError
from advlab.store import sha256_file

pytestmark = pytest.mark.usefixtures("one_thread")

CIFAR_MEAN = torch.tensor([0.4914, 0.4822, 0.4465])  # robustness.datasets.CIFAR's constants
CIFAR_STD = torch.tensor([0.2023, 0.1994, 0.2010])


def _randomise(net: nn.Module, head: str, scale: float) -> None:
    """Non-trivial BatchNorm statistics and a scaled head, so that logits are O(10)."""
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
    dict(net.named_modules())[head].weight.data.mul_(scale)


def _robustness_file(tmp: Path, arch: str) -> tuple[Path, nn.Module]:
    """A checkpoint exactly as robustness.train saves one: DataParallel(AttackerModel)."""
    dill = pytest.importorskip("dill")
    pytest.importorskip("robustness.attacker")
    from robustness import cifar_models
    from robustness.attacker import AttackerModel

    dataset = types.SimpleNamespace(mean=CIFAR_MEAN, std=CIFAR_STD)
    net = getattr(cifar_models, arch)(num_classes=10)
    _randomise(net, "linear", 40.0)
    wrapped = nn.DataParallel(AttackerModel(net, dataset))
    opt = torch.optim.SGD(wrapped.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, 50)
    path = tmp / f"{arch}.pt"
    torch.save({"model": wrapped.state_dict(), "optimizer": opt.state_dict(),
                "schedule": sched.state_dict(), "epoch": 150, "amp": None},
               path, pickle_module=dill)
    return path, wrapped.module.eval()


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, nn.Module]:
    return _robustness_file(tmp_path_factory.mktemp("robustness"), "resnet18")


@pytest.mark.parametrize("arch", ["resnet50", "resnet18"])
def test_robustness_checkpoint_logits_equal_after_import(tmp_path: Path, arch: str,
                                                         resnet18_file: Any) -> None:
    path, original = resnet18_file if arch == "resnet18" else _robustness_file(tmp_path, arch)
    rec = advlab.models.foreign.import_robustness(path, tmp_path / "imported")
    model = advlab.load_model(tmp_path / "imported")
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ref, ref_latent = original(x, with_latent=True, with_image=False)
        ours = model(x)
        diff = float((ours - ref).abs().max())
        feat_diff = float((model.features(x) - ref_latent).abs().max())
    print(f"{arch}: largest |logit difference| {diff:.3g} (logits up to "
          f"{float(ref.abs().max()):.3g}); features {feat_diff:.3g}")
    assert float(ref.abs().max()) > 1.0  # a meaningful comparison
    assert diff <= 1e-4 and feat_diff <= 1e-4
    cfg = json.loads((tmp_path / "imported" / "config.json").read_text())
    assert cfg["model"]["arch"] == arch and cfg["model"]["kwargs"]["mean"] == CIFAR_MEAN.tolist()
    imp = cfg["import"]
    assert imp["from"] == "robustness" and imp["epoch"] == 150
    assert imp["source_sha256"] == sha256_file(path) == rec["source_sha256"]
    assert imp["max_abs_logit_diff_vs_source"] <= 1e-4 and rec["max_abs_logit_diff_reloaded"] <= 1e-4


class _Bomb:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("payload", ["bomb", "module", "namespace"])
def test_checkpoint_that_needs_code_is_refused_without_running(tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "marker"
    obj: Any = {"bomb": {"model": {"x": _Bomb(marker)}},
                "module": {"model": nn.Linear(2, 2)},
                "namespace": {"model": {"w": torch.zeros(1)}, "args": types.SimpleNamespace(a=1)},
                }[payload]
    torch.save(obj, tmp_path / "evil.pt")
    with pytest.raises(AdvlabError, match=r"refused: loading it would run code \(.*\)") as e:
        advlab.models.foreign.import_robustness(tmp_path / "evil.pt", tmp_path / "out")
    assert "\n" not in str(e.value)
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_robustness_errors_are_one_line(tmp_path: Path, resnet18_file: Any) -> None:
    from advlab.models.foreign import import_robustness

    with pytest.raises(AdvlabError, match="does not exist.*download"):
        import_robustness(tmp_path / "missing.pt", tmp_path / "o")
    torch.save({"model": {"module.conv.weight": torch.zeros(1)}}, tmp_path / "other.pt")
    with pytest.raises(AdvlabError, match="not a robustness AttackerModel"):
        import_robustness(tmp_path / "other.pt", tmp_path / "o")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("keep me")
    with pytest.raises(AdvlabError, match="not an advlab checkpoint"):
        import_robustness(resnet18_file[0], tmp_path / "notes")
    assert (tmp_path / "notes" / "a.txt").read_text() == "keep me"


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def test_cli_import_robustness_then_construct_robust(tmp_path: Path, resnet18_file: Any,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`advlab models import --from robustness FILE`, then `construct robust --source DIR`."""
    path, _ = resnet18_file
    code, out, err = run_main(["models", "import", "--from", "robustness", str(path),
                               "--out", str(tmp_path / "m"), "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["source_sha256"] == sha256_file(path)
    code, _, err = run_main(["models", "import", "--from", "robustness", str(path),
                             "--out", str(tmp_path / "m")], capsys)
    assert code == 2 and err.count("\n") == 1 and "--out" in err and "already holds" in err
    code, _, err = run_main(["models", "import", "--from", "robustbench", "Wong2020Fast",
                             "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "--checkpoint" in err
    data = _cifar_shaped_artifact(tmp_path / "data")
    code, _, err = run_main(["construct", "robust", "--source", str(tmp_path / "m"),
                             "--dataset", str(data), "--out", str(tmp_path / "dr"), "--n", "4",
                             "--steps", "3", "--step-size", "0.1", "--batch-size", "4"], capsys)
    assert code == 0, err
    x, y = advlab.load_dataset(str(tmp_path / "dr"))
    assert x.shape == (4, 3, 32, 32) and y.shape == (4,)


def _cifar_shaped_artifact(out: Path, n: int = 8) -> Path:
    from advlab.data.artifact import save_artifact

    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 3, 32, 32, generator=g)
    return save_artifact(out, x, torch.arange(n) % 10, name="cifar-shaped",
                         classes=[str(i) for i in range(10)])


# ---------------------------------------------------------------------------- robustbench

def _needs_robustbench() -> None:
    """Skip without robustbench's model zoo (`import robustbench` itself may fail: see
    advlab.models.foreign.robustbench)."""
    from advlab.models.foreign.robustbench import _model_zoo

    try:
        _model_zoo()
    except AdvlabError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def wong_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, nn.Module]:
    """RobustBench's Wong2020Fast (PreActResNet-18) saved as its released file: a
    'state_dict' with DataParallel's 'module.' prefix and without the mu / sigma buffers."""
    _needs_robustbench()
    from advlab.models.foreign.robustbench import zoo_entry

    net = zoo_entry("Wong2020Fast", "cifar10", "Linf")["model"]()
    _randomise(net, "linear", 40.0)
    state = {"module." + k: v for k, v in net.state_dict().items() if k not in ("mu", "sigma")}
    path = tmp_path_factory.mktemp("robustbench") / "Wong2020Fast.pt"
    torch.save({"state_dict": state}, path)
    return path, net.eval()


def test_robustbench_checkpoint_logits_equal_after_import(tmp_path: Path, wong_file: Any) -> None:
    path, original = wong_file
    rec = advlab.models.foreign.import_robustbench("Wong2020Fast", path, tmp_path / "w")
    model = advlab.load_model(tmp_path / "w")
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        ref, ours = original(x), model(x)
        f = model.features(x)
        diff = float((ours - ref).abs().max())
        head_diff = float((model.head(f) - ours).abs().max())
    print(f"Wong2020Fast: largest |logit difference| {diff:.3g} (logits up to "
          f"{float(ref.abs().max()):.3g}); head(features) {head_diff:.3g}")
    assert float(ref.abs().max()) > 1.0 and diff <= 1e-4 and head_diff <= 1e-5
    assert f.shape == (16, 512)
    imp = json.loads((tmp_path / "w" / "config.json").read_text())["import"]
    assert imp["source_sha256"] == sha256_file(path) and imp["features_layer"] == "linear"
    assert imp["missing_buffers"] == ["mu", "sigma"] and rec["max_abs_logit_diff_reloaded"] <= 1e-4


def test_robustbench_errors(tmp_path: Path, wong_file: Any) -> None:
    from advlab.models.foreign import import_robustbench

    with pytest.raises(AdvlabError, match="does not exist.*robustbench.utils.load_model"):
        import_robustbench("Wong2020Fast", tmp_path / "nope.pt", tmp_path / "o")
    with pytest.raises(AdvlabError, match="did you mean Wong2020Fast"):
        import_robustbench("Wong2020Fst", wong_file[0], tmp_path / "o")
    with pytest.raises(AdvlabError, match="lacks .* parameters"):
        import_robustbench("Standard", wong_file[0], tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_features_unavailable_when_the_last_linear_is_not_the_output() -> None:
    _needs_robustbench()
    from advlab.models.foreign.robustbench import RobustBenchModel, _features_check

    model = RobustBenchModel((3, 32, 32), 10, name="Wong2020Fast").eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert _features_check(model, x, model(x)) == 0.0 and model.features_layer == "linear"
        assert _features_check(model, x, model(x) * 2 + 1) is None  # not head(features)
    assert model.features_layer is None
    with pytest.raises(AdvlabError, match="features"):
        model.features(x)


def test_imported_robustbench_model_is_a_construction_source(tmp_path: Path, wong_file: Any) -> None:
    """D_R at toy size from a RobustBench architecture imported with its checkpoint."""
    from advlab.features import construct_dataset
    from advlab.models.checkpoint import WEIGHTS

    advlab.models.foreign.import_robustbench("Wong2020Fast", wong_file[0], tmp_path / "src")
    data = _cifar_shaped_artifact(tmp_path / "data")
    out = construct_dataset("robust", source_checkpoint=tmp_path / "src", dataset=str(data),
                            out=tmp_path / "dr", n=4, steps=3, step_size=0.1, shard_size=4,
                            batch_size=4, seed=0)
    x, y = advlab.load_dataset(str(out))
    card = json.loads((out / "card.json").read_text())
    assert x.shape == (4, 3, 32, 32) and bool(torch.isfinite(x).all())
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert json.dumps(card["provenance"]).count(sha256_file(tmp_path / "src" / WEIGHTS)) >= 1


def test_robustbench_missing_package_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from advlab.models.foreign import robustbench as rb

    monkeypatch.setattr(rb, "_ZOO", {})
    monkeypatch.setitem(sys.modules, "robustbench", None)
    monkeypatch.setitem(sys.modules, "robustbench.model_zoo", None)
    monkeypatch.setitem(sys.modules, "robustbench.model_zoo.models", None)
    with pytest.raises(AdvlabError, match="robustbench is not installed: install it"):
        rb.zoo_entry("Wong2020Fast", "cifar10", "Linf")


def test_cli_import_robustbench_then_construct_robust(tmp_path: Path, wong_file: Any,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`advlab models import --from robustbench NAME --checkpoint FILE`, then
    `advlab construct robust --source DIR` at toy size: D_R from a RobustBench architecture."""
    from advlab.models.checkpoint import WEIGHTS

    path, original = wong_file
    code, out, err = run_main(["models", "import", "--from", "robustbench", "Wong2020Fast",
                               "--checkpoint", str(path), "--out", str(tmp_path / "m"), "--json"],
                              capsys)
    assert code == 0, err
    assert json.loads(out)["source_sha256"] == sha256_file(path)
    data = _cifar_shaped_artifact(tmp_path / "data")
    code, out, err = run_main(["construct", "robust", "--source", str(tmp_path / "m"),
                               "--dataset", str(data), "--out", str(tmp_path / "dr"), "--n", "4",
                               "--steps", "3", "--step-size", "0.1", "--batch-size", "4",
                               "--json"], capsys)
    assert code == 0, err
    x, y = advlab.load_dataset(str(tmp_path / "dr"))
    card = json.loads((tmp_path / "dr" / "card.json").read_text())
    src = card["provenance"]["source_model"]
    assert x.shape == (4, 3, 32, 32) and y.shape == (4,) and bool(torch.isfinite(x).all())
    assert src["sha256"] == sha256_file(tmp_path / "m" / WEIGHTS)
    assert card["provenance"]["source_dataset"]["name"] == str(data)
    stats = json.loads(out)["stats"]
    assert stats and all(math.isfinite(v) for v in stats.values())
    print(f"D_R from RobustBench Wong2020Fast: {stats}")
