"""advlab.evaluate: accuracies (closed forms), transfer, min-norm statistics, checks, CLI."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from advlab.attacks import AttackResult
from advlab.evaluate import (
    SanityWarning,
    accuracy_vs_steps,
    clean_accuracy,
    min_norm_stats,
    plot_perturbation_histogram,
    robust_accuracy,
    transfer_success,
)
from advlab.evaluate.checks import check_attack, check_model
from advlab.evaluate.minnorm import fraction_within

pytestmark = pytest.mark.usefixtures("one_thread")


class Linear2(nn.Module):
    """Binary linear classifier with logits (-f/2, f/2), f = w.x + b."""

    def __init__(self, d: int = 16) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.lin = nn.Linear(d, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.lin(x.flatten(1))
        return torch.cat([-f / 2, f / 2], dim=1)

    def distance(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.lin(x.flatten(1)).squeeze(1).abs() / self.lin.weight.norm()


def _data(model: Linear2, n: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 1, 4, 4)
    with torch.no_grad():
        y = (model.lin(x.flatten(1)).squeeze(1) > 0).long()
    y[:30] = 1 - y[:30]  # 10% misclassified
    return x, y


def test_clean_accuracy_matches_reference_and_restores_mode() -> None:
    model = Linear2()
    x, y = _data(model)
    model.train()
    assert clean_accuracy(model, x, y, batch_size=7) == pytest.approx(0.9)
    assert model.training


def test_robust_accuracy_equals_closed_form_on_linear_model() -> None:
    """Correct points further than eps from the boundary stay correct; nothing else does."""
    model = Linear2()
    x, y = _data(model)
    dist = model.distance(x)
    eps = [0.0, 0.5, 1.0]
    acc = robust_accuracy(model, x, y, norm="l2", eps=eps, steps=20, box=None, checks=False)
    assert list(acc) == eps and acc[0.0] == pytest.approx(0.9)
    correct = torch.arange(300) >= 30
    for e in eps[1:]:
        # the random start's orthogonal part survives the projection, so points just
        # inside eps (within 10%) may survive 20 steps; nothing outside eps can be fooled
        lower = float(((dist > e) & correct).float().mean())
        upper = float(((dist > 0.9 * e) & correct).float().mean())
        assert lower - 1e-6 <= acc[e] <= upper + 1e-6


def test_accuracy_vs_steps_and_transfer() -> None:
    model = Linear2()
    x, y = _data(model, 120)
    curve = accuracy_vs_steps(model, x, y, norm="l2", eps=0.5, steps_list=[1, 10], box=None)
    assert set(curve) == {1, 10} and all(0 <= v <= 0.9 + 1e-6 for v in curve.values())
    other = Linear2()
    with torch.no_grad():
        other.lin.weight.mul_(-1)  # predicts the opposite class everywhere
    out = transfer_success(model, {"same": model, "flipped": other}, x, y, norm="l2", eps=0.5,
                           steps=10, box=None)
    assert out["targets"]["same"] == pytest.approx(out["source"])
    assert out["targets_given_source"]["same"] == 1.0
    assert 0 <= out["targets"]["flipped"] <= 1


def test_min_norm_stats_and_histogram(tmp_path: Path) -> None:
    x = torch.zeros(4, 1, 2, 2)
    x_adv = x.clone()
    x_adv[1, 0, 0, 0] = 10 / 255  # norm 10/255
    x_adv[2] = 3 / 255  # four pixels of 3/255: norm 6/255
    res = AttackResult(x_adv=x_adv, success=torch.tensor([True, True, True, False]),
                       norms=torch.tensor([0.0, 10 / 255, 6 / 255, float("inf")]), norm="l2",
                       eps=None, clean_success=torch.tensor([True, False, False, False]))
    stats = min_norm_stats(res, x)
    assert stats["n_correct"] == 3 and stats["success_rate"] == pytest.approx(2 / 3)
    assert stats["mean_l2"] == pytest.approx(8 / 255) and stats["median_l2"] == pytest.approx(6 / 255)
    assert sum(stats["hist_counts"]) == 8  # pixels of the two successful correct points
    assert stats["hist_counts"][0] == 3 + 4 and stats["hist_counts"][2] == 1
    assert fraction_within(res, 7 / 255) == 0.5
    path = plot_perturbation_histogram(stats, tmp_path / "figures" / "h.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


class _BatchMean(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = x.flatten(1)
        return torch.stack([f.sum(1) - f.sum(1).mean(), -f.sum(1)], dim=1)


class _Step(nn.Module):
    """Piecewise-constant (rounded) input: zero gradients everywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin((x.flatten(1) * 0 + 0.5).round() + x.flatten(1).detach() * 0)


def test_checks_flag_train_mode_and_batch_dependence() -> None:
    x = torch.rand(20, 1, 4, 4)
    model = Linear2()
    model.train()
    with pytest.warns(SanityWarning, match="train mode.*#train-mode"):
        assert check_model(model, x) == ["train-mode"]
    with pytest.warns(SanityWarning, match="batch-dependence"):
        assert "batch-dependence" in check_model(_BatchMean().eval(), x)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SanityWarning)
        assert check_model(Linear2().eval(), x) == []


def test_checks_flag_masked_gradients_unbounded_failure_and_more_steps() -> None:
    from advlab.attacks import PGD

    x, y = torch.rand(40, 1, 4, 4), torch.zeros(40, dtype=torch.long)
    step = _Step()
    with torch.no_grad():
        step.lin.bias.copy_(torch.tensor([100.0, 0.0]))  # always class 0, flat
    attack = PGD(norm="l2", steps=3)
    with pytest.warns(SanityWarning) as rec:
        issued = check_attack(step, x, y, attack=attack, fooled={1.0: torch.zeros(40, dtype=torch.bool)})
    assert {"unbounded", "zero-gradients"} <= set(issued)
    assert all("docs/attacks.md#" in str(w.message) for w in rec)
    lin = Linear2()
    xl = torch.rand(40, 1, 4, 4)
    with torch.no_grad():
        yl = lin(xl).argmax(1)
    claimed_robust = {3.0: torch.zeros(40, dtype=torch.bool)}  # a too-weak first attack
    with pytest.warns(SanityWarning, match="more-steps"):
        assert "more-steps" in check_attack(lin, xl, yl, attack=attack, fooled=claimed_robust)


def test_robust_accuracy_checks_can_be_disabled() -> None:
    model = Linear2()
    model.train()
    x = torch.rand(30, 1, 4, 4)
    with torch.no_grad():
        y = model.eval()(x).argmax(1)
    model.train()
    with pytest.warns(SanityWarning, match="train-mode"):
        robust_accuracy(model, x, y, norm="linf", eps=[0.1], steps=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SanityWarning)
        robust_accuracy(model, x, y, norm="linf", eps=[0.1], steps=5, checks=False)
    assert model.training


@pytest.fixture(scope="module")
def digits_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from advlab.models import build_model
    from advlab.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model("mlp", in_shape=(1, 8, 8), num_classes=10, hidden=(32,))
    path = tmp_path_factory.mktemp("ckpt") / "mlp"
    save_checkpoint(path, model)
    return path


def test_cli_evaluate_and_attack_write_results(digits_checkpoint: Path, tmp_path: Path) -> None:
    from advlab.cli import cli

    runner = CliRunner()
    out = tmp_path / "ev"
    r = runner.invoke(cli, ["evaluate", "--checkpoint", str(digits_checkpoint), "--dataset",
                            "digits", "--eps", "0.5,1", "--steps", "3", "--n", "40", "--json",
                            "--out", str(out), "--no-checks"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    res = json.loads((out / "results.json").read_text())
    assert set(res["robust_accuracy"]) == {"0.5", "1"} and 0 <= res["clean_accuracy"] <= 1
    assert res["robust_accuracy"]["1"] <= res["clean_accuracy"]
    assert (out / "report.html").exists()
    clean_only = runner.invoke(cli, ["evaluate", "--checkpoint", str(digits_checkpoint),
                                     "--dataset", "digits", "--n", "20", "--json"])
    assert "robust_accuracy" not in json.loads(clean_only.output)
    out2 = tmp_path / "at"
    r = runner.invoke(cli, ["attack", "--checkpoint", str(digits_checkpoint), "--dataset",
                            "digits", "--min-norm", "--steps", "10", "--n", "20", "--json",
                            "--out", str(out2)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    res = json.loads((out2 / "results.json").read_text())
    assert {"mean_l2", "median_l2", "success_rate"} <= set(res)
    assert list((out2 / "figures").glob("*.png"))


def test_cli_errors_are_one_line(digits_checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from advlab.cli import main

    with pytest.raises(SystemExit) as e:
        main(["evaluate", "--checkpoint", str(digits_checkpoint), "--dataset", "digits",
              "--eps", "1,-2"])
    assert e.value.code == 2
    assert "--eps: got '1,-2'" in capsys.readouterr().err


def test_an_unconverged_attack_is_strengthened_not_reported() -> None:
    """When the check finds that 2x steps and one more restart fool more points, every
    point still robust is attacked again with that stronger attack: the reported accuracy
    drops below the weak attack's (a linear model: closed-form distances)."""
    from advlab.evaluate.accuracy import robust_flags
    from linear_model import LinearK

    model = LinearK(d=16, k=4).eval()
    x = torch.rand(200, 1, 4, 4)
    with torch.no_grad():
        y = model(x).argmax(1)
    dist = model.distance(x, y, "l2")
    med = float(dist.median())
    eps = [2 * med, 4 * med]
    weak = dict(norm="l2", eps=eps, steps=1, step_size=0.6 * med, box=None)  # far too short
    plain = robust_flags(model, x, y, checks=False, **weak)
    with pytest.warns(SanityWarning, match="more-steps"):
        checked = robust_flags(model, x, y, checks=True, **weak)
    for e in eps:
        assert int(checked[e].sum()) < int(plain[e].sum())  # the stronger attack counted
        assert not (plain[e] < checked[e]).any()  # never more robust than the weak attack
        assert checked[e][dist > e].all()  # a truly robust point is never counted fooled
    assert not (checked[eps[1]] & ~checked[eps[0]]).any()  # the balls nest
