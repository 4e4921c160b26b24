"""The speed paths (advlab.precision): autocast precision, channels-last, torch.compile.

What stays float32 (the outputs, the attack steps and projections, every verification of
success, the inversion's reported distances) is checked directly; bf16 and fp16 are held
against fp32 on a trained CNN with the tolerances docs/scale.md states:

* robust accuracy on 200 points at two L2 radii: within 2 points;
* D_R inversion relative representation distances (32 images): mean absolute difference
  <= 0.01, largest <= 0.03;
* D_det relabelling: fraction of targets reached within 10 points (32 images).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from advlab.attacks import PGD
from advlab.attacks.base import predict_logits
from advlab.attacks.losses import is_adversarial
from advlab.attacks.pgd import pgd_perturb
from advlab.errors import AdvlabError
from advlab.precision import (
    FastModel,
    check_precision,
    describe,
    full_precision,
    speed_paths,
)

pytestmark = pytest.mark.usefixtures("one_thread")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


class Net(nn.Module):
    """A conv net with ``features``; records the dtype and memory format its conv sees."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 8 * 8, 5)
        self.seen: list[tuple[torch.dtype, bool]] = []

    def features(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((x.dtype, x.is_contiguous(memory_format=torch.channels_last)))
        return torch.relu(self.conv(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def _data(n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, 8, 8, generator=g), torch.randint(0, 5, (n,), generator=g)


def test_unknown_precision_is_refused_naming_the_parameter() -> None:
    with pytest.raises(AdvlabError, match="precision") as e:
        check_precision("fp64")
    assert e.value.param == "precision"


def test_a_precision_autocast_does_not_support_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.amp.autocast_mode, "is_autocast_available", lambda kind: False)
    with pytest.raises(AdvlabError, match=r"autocast does not support bf16 on the device 'cpu'"):
        check_precision("bf16", "cpu")
    assert check_precision("fp32", "cpu") == "fp32"  # no autocast needed


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_low_precision_inside_float32_outside(precision: str, dtype: torch.dtype) -> None:
    check_precision(precision, "cpu")  # fp16 and bf16 autocast both work on this CPU build
    net = Net()
    fast = speed_paths(net, precision=precision, channels_last=True)
    x, y = _data()
    xg = x.clone().requires_grad_(True)
    out = fast(xg)
    (grad,) = torch.autograd.grad(nn.functional.cross_entropy(out, y), xg)
    assert out.dtype == grad.dtype == torch.float32
    assert fast.features(x).dtype == torch.float32
    assert net.conv.weight.dtype == torch.float32  # the weights are never cast in place
    assert net.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert net.seen[0] == (torch.float32, True)  # autocast casts inside the conv, not before
    with torch.autocast("cpu", dtype=dtype):
        assert net.conv(x).dtype == dtype  # what the conv computes in under this autocast
    assert not torch.equal(out.detach(), net(x))  # the low precision did change the logits


def test_defaults_return_the_model_itself_and_describe_the_settings() -> None:
    net = Net()
    assert speed_paths(net) is net
    assert full_precision(net) is net
    assert describe(net) == {"precision": "fp32", "channels_last": False, "compile": False}
    fast = speed_paths(net, precision="bf16")
    assert isinstance(fast, FastModel) and full_precision(fast) is net
    assert describe(fast) == {"precision": "bf16", "channels_last": False, "compile": False}
    assert set(fast.parameters()) == set(net.parameters())
    assert not speed_paths(net.eval(), precision="bf16").training  # the model's mode, kept


def test_decisions_are_float32() -> None:
    net = Net().eval()
    fast = speed_paths(net, precision="bf16")
    x, y = _data(64)
    assert torch.equal(predict_logits(fast, x), predict_logits(net, x))
    res = PGD(norm="l2", steps=5, box=(0.0, 1.0))(fast, x, y, eps=0.5)
    with torch.no_grad():  # success is exactly the float32 model's verdict on x_adv
        assert torch.equal(res.success, is_adversarial(net(res.x_adv), y, None))
    assert res.x_adv.dtype == torch.float32
    assert float(res.norms.max()) <= 0.5 + 1e-6


def test_pgd_steps_and_projection_are_float32() -> None:
    fast = speed_paths(Net().eval(), precision="bf16")
    x, y = _data()
    for norm, eps in (("l2", 0.3), ("linf", 8 / 255)):
        xa = pgd_perturb(fast, x, y, norm=norm, eps=eps, steps=3, step_size=eps / 2)
        assert xa.dtype == torch.float32
        d = (xa - x).flatten(1)
        n = d.norm(dim=1) if norm == "l2" else d.abs().amax(dim=1)
        assert float(n.max()) <= eps + 1e-6 and 0 <= float(xa.min()) and float(xa.max()) <= 1


def test_robustify_reports_float32_distances() -> None:
    from advlab.features import robustify

    net = Net().eval()
    fast = speed_paths(net, precision="bf16")
    x, y = _data(8)
    x0 = _data(16)[0][8:]
    xr, d = robustify(fast, x, y, x0=x0, steps=3, step_size=0.2, batch_size=8)
    with torch.no_grad():
        exact = (net.features(xr) - net.features(x)).norm(dim=1)
    torch.testing.assert_close(d.absolute, exact, rtol=1e-5, atol=1e-6)


def test_compile_is_wired(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[nn.Module] = []

    def fake_compile(model: nn.Module, **kw: Any) -> nn.Module:
        calls.append(model)
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    net = Net()
    fast = speed_paths(net, compile=True)
    assert calls == [net, net.features] and describe(fast)["compile"] is True
    from advlab.train import TrainConfig, train

    x, y = _data(32)
    cfg = TrainConfig(dataset="t", model="mlp", epochs=1, batch_size=16, compile=True,
                      precision="bf16", checkpoint_every_seconds=1e9)
    train(cfg, tmp_path, train_data=(x, y), test_data=(x, y))
    assert len(calls) == 4 and isinstance(calls[2], nn.Module)  # and the training model


@pytest.mark.slow
def test_torch_compile_agrees_with_eager() -> None:
    """Real torch.compile (inductor; about 30 s on this CPU): same logits as eager."""
    net = Net().eval()
    x, _ = _data()
    compiled = speed_paths(net, compile=True)
    torch.testing.assert_close(compiled(x), net(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(compiled.features(x), net.features(x), rtol=1e-5, atol=1e-5)  # type: ignore[operator]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_training_in_low_precision(precision: str, tmp_path: Path) -> None:
    from advlab.train import AdvConfig, TrainConfig, train

    x, y = _data(64)
    cfg = TrainConfig(dataset="t", model="cnn", epochs=2, batch_size=16, lr=1e-2, seed=0,
                      precision=precision, channels_last=True, checkpoint_every_seconds=1e9,
                      adversarial=AdvConfig(eps=0.3, steps=2))
    res = train(cfg, tmp_path, train_data=(x, y), test_data=(x, y))
    assert all(p.dtype == torch.float32 for p in res.model.parameters())
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in res.history)
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"] + 0.5


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from advlab.cli import main

    with pytest.raises(SystemExit) as e:
        main(args)
    return int(e.value.code or 0), capsys.readouterr().err


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, dict[str, Any]]:
    """The benchmark's CNN (benchmarks/precision.py) and its fp32 figures."""
    from precision import measure, source_model

    model = source_model(tmp_path_factory.mktemp("precision_cnn"))
    return model, measure(model, "fp32")


@pytest.mark.parametrize("low", ["bf16", pytest.param("fp16", marks=pytest.mark.slow)])
def test_low_precision_agrees_with_fp32(source: tuple[nn.Module, dict[str, Any]], low: str) -> None:
    """The tolerances of docs/scale.md on 200 points (robust accuracy) and 32 images
    (constructions); benchmarks/results/precision.json holds the measured figures."""
    from precision import agreement

    a = agreement(source[0], low, ref=source[1])
    assert max(a["robust_accuracy_points"].values()) <= 2.0, a["robust_accuracy_points"]
    assert a["relative_distance_mean_abs_diff"] <= 0.01
    assert a["relative_distance_max_abs_diff"] <= 0.03
    assert a["relabel_reached_points"] <= 10.0
    assert 0.2 < a["fp32"]["robust_accuracy"]["2"] < 0.95  # a radius where attacks matter


def test_every_command_takes_the_speed_paths(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from advlab.store import read_json

    run = tmp_path / "run"
    code, err = _cli(["train", "--dataset", "digits", "--model", "mlp", "--epochs", "1",
                      "--precision", "bf16", "--channels-last", "--out", str(run), "--device", "cpu",
                      "--json"], capsys)
    assert code == 0, err
    identity = read_json(run / "config.json")["identity"]
    assert (identity["precision"], identity["channels_last"]) == ("bf16", True)
    assert "compile" not in identity  # a default speed path leaves the identity as it was
    code, err = _cli(["train", "--dataset", "digits", "--model", "mlp", "--precision", "fp8",
                      "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "--precision" in err and not (tmp_path / "x").exists()
    ckpt = str(run / "last")
    code, err = _cli(["evaluate", "--checkpoint", ckpt, "--dataset", "digits", "--n", "40", "--eps",
                      "0.5", "--precision", "bf16", "--channels-last", "--out", str(tmp_path / "ev"),
                      "--device", "cpu"], capsys)
    assert code == 0, err
    cfg = read_json(tmp_path / "ev" / "config.json")["config"]
    assert (cfg["precision"], cfg["channels_last"]) == ("bf16", True)
    code, err = _cli(["attack", "--min-norm", "--checkpoint", ckpt, "--dataset", "digits", "--n", "10",
                      "--steps", "5", "--precision", "fp16", "--device", "cpu"], capsys)
    assert code == 0, err
    keys = {}
    for prec in ("fp32", "bf16"):
        out = tmp_path / f"det-{prec}"
        code, err = _cli(["construct", "det", "--source", ckpt, "--dataset", "digits", "--eps", "2",
                          "--steps", "2", "--n", "10", "--precision", prec, "--out", str(out),
                          "--device", "cpu"], capsys)
        assert code == 0, err
        prov = read_json(out / "card.json")["provenance"]
        keys[prec] = prov["key"]
        assert prov.get("speed_paths", {}).get("precision", "fp32") == prec
    assert keys["fp32"] != keys["bf16"]  # a bf16 construction is a different construction
