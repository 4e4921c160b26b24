"""Trainer: config parsing, deterministic order and sharding, augmentation, optimizer
state without pickle, run folder files, exact resume, adversarial training, TRADES."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import advlab
from advlab.errors import AdvlabError
from advlab.train import AdvConfig, TrainConfig, lr_at, parse_adv, parse_kwargs, train
from advlab.train import loop as loop_mod
from advlab.train.data import augment, epoch_batches, epoch_order
from advlab.train.state import optimizer_from_parts, optimizer_to_parts
from advlab.train.trades import trades_loss, trades_perturb


def _cfg(**kw: object) -> TrainConfig:
    base = dict(dataset="digits", model="cnn", model_kwargs={"width": 8, "hidden": 32}, epochs=2,
                batch_size=32, lr=1e-2, seed=0, checkpoint_every_seconds=1e9)
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


# ---------------------------------------------------------------- parsing


def test_parse_adv_accepts_both_norms() -> None:
    assert parse_adv("l2:2.0") == ("l2", 2.0)
    assert parse_adv("linf:0.3") == ("linf", 0.3)
    assert parse_adv("LINF: 8e-3") == ("linf", 0.008)


@pytest.mark.parametrize("spec,why", [("l2:-1", "eps must be"), ("l3:1", "unknown norm 'l3'"),
                                      ("l2", "expected l2:EPS"), ("l2:abc", "not a finite number"),
                                      ("l2:inf", "not a finite number"), ("l2:1:2", "expected")])
def test_parse_adv_errors_name_the_parameter(spec: str, why: str) -> None:
    with pytest.raises(AdvlabError, match=r"^adv: ") as e:
        parse_adv(spec)
    assert why in str(e.value) and e.value.param == "adv"  # the CLI shows it as --adv


def test_parse_kwargs_types() -> None:
    assert parse_kwargs("width=32,hidden=256/128,batch_norm=false,mean=0.5") == {
        "width": 32, "hidden": [256, 128], "batch_norm": False, "mean": 0.5}
    with pytest.raises(AdvlabError, match="^model_kwargs"):
        parse_kwargs("width")


def test_adv_config_defaults_follow_features_paper() -> None:
    adv = AdvConfig(norm="l2", eps=2.0)
    assert adv.steps == 7 and adv.resolved_step_size == pytest.approx(0.4)
    with pytest.raises(AdvlabError, match="^eps: got -0.5"):
        AdvConfig(norm="l2", eps=-0.5)


def test_step_schedule() -> None:
    cfg = _cfg(lr=0.1, lr_drop_epochs=(2, 4), lr_drop_factor=0.1)
    assert [round(lr_at(cfg, e), 6) for e in range(6)] == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]


# ---------------------------------------------------------------- data order


def test_epoch_order_depends_only_on_seed_and_epoch() -> None:
    a = epoch_order(100, seed=3, epoch=1)
    assert torch.equal(a, epoch_order(100, seed=3, epoch=1))
    assert sorted(a.tolist()) == list(range(100))
    assert not torch.equal(a, epoch_order(100, seed=3, epoch=2))
    assert not torch.equal(a, epoch_order(100, seed=4, epoch=1))


def test_rank_shards_partition_each_global_batch() -> None:
    order = epoch_order(103, seed=0, epoch=0)
    one = epoch_batches(order, 8)
    two = [epoch_batches(order, 8, rank=r, world=2) for r in range(2)]
    assert len(two[0]) == len(two[1]) == len(one)  # last batch of 7 >= world: kept
    for b, (r0, r1) in enumerate(zip(two[0], two[1], strict=True)):
        assert sorted(torch.cat([r0, r1]).tolist()) == sorted(one[b].tolist())
    with pytest.raises(AdvlabError, match="--batch-size"):
        epoch_batches(order, 9, rank=0, world=2)


def test_crop_augmentation_is_a_shift_of_the_padded_image() -> None:
    x = torch.rand(6, 2, 16, 16) + 1.0  # strictly positive: padding zeros are visible
    g = torch.Generator().manual_seed(0)
    out = augment(x, "crop", g)
    assert out.shape == x.shape
    pad = 2
    padded = F.pad(x, (pad, pad, pad, pad))
    for i in range(len(x)):
        windows = [padded[i, :, dy:dy + 16, dx:dx + 16] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)
    assert augment(x, "none", g) is x
    flipped = augment(x, "crop_flip", torch.Generator().manual_seed(1))
    assert torch.equal(flipped, augment(x, "crop_flip", torch.Generator().manual_seed(1)))


# ---------------------------------------------------------------- optimizer state


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_optimizer_state_roundtrip_without_pickle(name: str) -> None:
    def make() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(0)
        m = torch.nn.Linear(5, 3)
        opt = (torch.optim.Adam(m.parameters(), lr=0.01) if name == "adam"
               else torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9))
        return m, opt

    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))

    def step(m: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()

    m1, o1 = make()
    for _ in range(3):
        step(m1, o1)
    tensors, meta = optimizer_to_parts(o1)
    meta = json.loads(json.dumps(meta))  # must survive JSON
    m2, o2 = make()
    m2.load_state_dict(m1.state_dict())
    optimizer_from_parts(o2, tensors, meta)
    step(m1, o1)
    step(m2, o2)
    for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.equal(p1, p2)


# ---------------------------------------------------------------- training runs


def test_train_writes_run_folder_and_reaches_accuracy(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = train(_cfg(epochs=3), out)
    assert res.final["test_acc"] > 0.9
    assert [m["epoch"] for m in res.history] == [1, 2, 3]
    for name in ("config.json", "metrics.json", "results.json", "last/model.safetensors",
                 "last/config.json", "last/state.safetensors", "last/state.json"):
        assert (out / name).is_file(), name
    assert not (out / "best").exists()  # no model is selected on the test set
    doc = json.loads((out / "last" / "config.json").read_text())
    assert doc["train"]["model"] == "cnn" and doc["metrics"]["epoch"] == 3
    assert doc["selection"] == loop_mod.SELECTION
    results = json.loads((out / "results.json").read_text())
    assert results["final"]["test_acc"] == pytest.approx(res.final["test_acc"])
    assert results["model"] == "last" and "best" not in results
    x, y = advlab.load_dataset("digits", "test")
    with torch.no_grad():
        acc = (advlab.load_model(out / "last")(x).argmax(1) == y).float().mean().item()
    assert acc == pytest.approx(res.final["test_acc"])
    # mean / std come from the training data and live inside the model
    xtr, _ = advlab.load_dataset("digits", "train")
    assert res.model.config["kwargs"]["mean"][0] == pytest.approx(xtr.mean().item(), abs=1e-4)
    again = train(_cfg(epochs=3), out)  # finished: nothing retrained
    assert again.resumed and again.history == res.history


@pytest.mark.parametrize("every, measured", [(0, [3]), (2, [2, 3]), (1, [1, 2, 3])])
def test_eval_every_measures_the_named_epochs_and_always_the_last(
        tmp_path: Path, every: int, measured: list[int]) -> None:
    res = train(_cfg(epochs=3, eval_every=every), tmp_path)
    assert [m["epoch"] for m in res.history if m["test_acc"] is not None] == measured
    ref = train(_cfg(epochs=3), tmp_path / "ref")  # evaluating changes no weight
    assert res.final["test_acc"] == ref.final["test_acc"] > 0.9
    card = (tmp_path / "last" / "README.md").read_text()
    assert f"| clean | {100 * res.final['test_acc']:.2f}% |" in card
    with pytest.raises(AdvlabError, match="eval_every"):
        _cfg(eval_every=-1)


class _Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_identical_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg(epochs=2, checkpoint_every_steps=7, augment="crop")
    ref = train(cfg, tmp_path / "ref")
    real_loss, calls = loop_mod._loss, {"n": 0}

    def failing(*a, **k):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 60:  # mid-epoch 2 (45 batches per epoch), after a checkpoint at 56
            raise _Interrupt
        return real_loss(*a, **k)

    monkeypatch.setattr(loop_mod, "_loss", failing)
    with pytest.raises(_Interrupt):
        train(cfg, tmp_path / "cut")
    state = json.loads((tmp_path / "cut" / "last" / "state.json").read_text())
    assert (state["epoch"], state["step"]) == (1, 14)
    monkeypatch.setattr(loop_mod, "_loss", real_loss)
    res = train(cfg, tmp_path / "cut")
    assert res.resumed
    for (k, a), b in zip(ref.model.state_dict().items(), res.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert [m["test_acc"] for m in res.history] == [m["test_acc"] for m in ref.history]


def test_reusing_out_for_another_config_is_refused(tmp_path: Path) -> None:
    train(_cfg(epochs=1), tmp_path)
    with pytest.raises(AdvlabError, match=r"^--out: .*differs in lr.*--force"):
        train(_cfg(epochs=1, lr=0.5), tmp_path)
    res = train(_cfg(epochs=1, lr=0.5), tmp_path, force=True)
    assert not res.resumed


def test_tensors_passed_directly_and_pgd_training(tmp_path: Path) -> None:
    x, y = advlab.load_dataset("digits", "train")
    xt, yt = advlab.load_dataset("digits", "test")
    cfg = _cfg(epochs=1, dataset="digits-direct", adversarial=AdvConfig(norm="linf", eps=0.1, steps=2),
               robust_eval_subset=40, robust_eval_steps=3)
    res = train(cfg, tmp_path, train_data=(x[:320], y[:320]), test_data=(xt, yt))
    m = res.final
    assert m["robust_norm"] == "linf" and m["robust_eps"] == 0.1 and m["robust_n"] == 40
    assert 0.0 <= m["robust_acc"] <= 1.0
    assert json.loads((tmp_path / "results.json").read_text())["final"]["robust_acc"] == m["robust_acc"]


def test_trades_training_runs(tmp_path: Path) -> None:
    cfg = _cfg(epochs=1, adversarial=AdvConfig(kind="trades", norm="l2", eps=0.5, steps=2, beta=1.0))
    res = train(cfg, tmp_path)
    assert res.final["test_acc"] > 0.3


# ---------------------------------------------------------------- TRADES pieces


def _bn_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.BatchNorm1d(8),
                               torch.nn.ReLU(), torch.nn.Linear(8, 3))


@pytest.mark.parametrize("norm,eps", [("l2", 0.5), ("linf", 0.1)])
def test_trades_perturb_stays_in_ball_and_box_and_raises_kl(norm: str, eps: float) -> None:
    net = _bn_net().train()
    stats = net[2].running_mean.clone()
    x = torch.rand(10, 1, 4, 4)
    x_adv = trades_perturb(net, x, norm=norm, eps=eps, steps=10, step_size=eps / 4)
    d = (x_adv - x).flatten(1)
    size = d.norm(dim=1) if norm == "l2" else d.abs().amax(dim=1)
    assert (size <= eps + 1e-6).all() and x_adv.min() >= 0 and x_adv.max() <= 1
    assert net.training and torch.equal(net[2].running_mean, stats)  # eval during the attack
    assert all(p.grad is None for p in net.parameters())
    net.eval()
    with torch.no_grad():
        p = F.softmax(net(x), 1)
        kl_adv = F.kl_div(F.log_softmax(net(x_adv), 1), p, reduction="sum")
        kl_rand = F.kl_div(F.log_softmax(net((x + eps * 0.5 * torch.randn_like(x) / 4).clamp(0, 1)), 1),
                           p, reduction="sum")
    assert kl_adv > kl_rand


def test_trades_loss_closed_forms() -> None:
    logits, y = torch.randn(6, 4), torch.randint(0, 4, (6,))
    torch.testing.assert_close(trades_loss(logits, logits, y, beta=5.0), F.cross_entropy(logits, y))
    other = torch.randn(6, 4)
    assert trades_loss(logits, other, y, beta=1.0) > F.cross_entropy(logits, y)


# ---------------------------------------------------------------- CLI errors


@pytest.mark.parametrize("args,needle", [
    (["--adv", "l2:-0.5"], "--adv: got 'l2:-0.5'"),
    (["--adv", "l7:1"], "unknown norm 'l7'"),
    (["--model", "resnet19"], "--model: unknown architecture 'resnet19'"),
    (["--trades", "6"], "--trades: got 6.0 without --adv"),
])
def test_cli_errors_are_one_line(args: list[str], needle: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    from advlab.cli import main

    argv = ["train", "--dataset", "digits", "--model", "cnn", "--out", str(tmp_path / "o"), *args]
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2
    assert needle in err and err.startswith("advlab: error: ") and "\n" not in err


def test_trades_and_pgd_respect_an_unbounded_box() -> None:
    """With box='none' the inner maximisation may leave [0, 1] (synthetic MFA data)."""
    from advlab.attacks.pgd import pgd_perturb
    from advlab.train import AdvConfig
    from advlab.train.trades import trades_perturb

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    x = torch.full((8, 1, 2, 2), 0.99)
    y = torch.zeros(8, dtype=torch.long)
    free = AdvConfig(kind="trades", eps=1.0, steps=3, box="none")
    unit = AdvConfig(kind="trades", eps=1.0, steps=3)
    assert free.box_bounds is None and unit.box_bounds == (0.0, 1.0)
    x_free = trades_perturb(model, x, norm="l2", eps=1.0, steps=3, step_size=0.5, box=free.box_bounds)
    x_unit = trades_perturb(model, x, norm="l2", eps=1.0, steps=3, step_size=0.5, box=unit.box_bounds)
    assert x_free.max() > 1.0 and x_unit.max() <= 1.0
    assert (x_free - x).flatten(1).norm(dim=1).max() <= 1.0 + 1e-5
    x_pgd = pgd_perturb(model, x, y, norm="l2", eps=1.0, steps=3, step_size=0.5, box=None)
    assert (x_pgd > 1.0).any()
    with pytest.raises(AdvlabError, match="box"):
        AdvConfig(box="clip")  # type: ignore[arg-type]


def test_robust_eval_during_training_does_not_depend_on_the_number_of_ranks(digits_mlp: Path) -> None:
    from advlab.train import distributed as dd
    from advlab.train.evaluation import _robust_over_chunks

    x, y = advlab.load_dataset("digits", "test")
    x, y = x[:100], y[:100]
    model = advlab.load_model(digits_mlp).eval()
    cfg = _cfg(epochs=1, robust_eval_subset=100, robust_eval_eps=0.5, robust_eval_steps=3,
               eval_batch_size=16)  # chunks of 16: several per rank

    def count(rank: int, world: int) -> int:
        return _robust_over_chunks(model, x, y, cfg, dd.DistInfo(rank, world), "cpu", epoch=0)

    one = count(0, 1)
    assert count(0, 2) + count(1, 2) == one == sum(count(r, 3) for r in range(3))
    assert 0 < count(0, 2) < one  # each rank attacks only its own chunks
