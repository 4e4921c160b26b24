"""The cost plan (``--plan``): FLOPs against closed forms and real-tensor counts, memory
against the tensors' sizes, pass counts against the configs, one plan entry for every
stage of the recipes' stage lists, and the command line (which runs nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from advlab.cli import cli
from advlab.experiments.engine import RunContext
from advlab.experiments.ilyas2019 import stages as ilyas_stages
from advlab.experiments.ilyas2019.config import resolve_config
from advlab.experiments.ilyas2019.plan import make_plan as ilyas_plan
from advlab.experiments.ilyas2019.plan import stage_plans as ilyas_stage_plans
from advlab.experiments.plan import (
    RESNET50_TRAIN_FLOPS,
    Net,
    Pricer,
    a100,
    dataset_facts,
    profile,
    render,
    resnet50_train_flops,
)
from advlab.experiments.plan import pricing as price_mod
from advlab.experiments.richardson2020 import stages as rw_stages
from advlab.experiments.richardson2020.config import make_config
from advlab.experiments.richardson2020.plan import make_plan as rw_plan
from advlab.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _fixed_cpu_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU calibration is timed on a loaded machine: a fixed rate keeps tests fast."""
    monkeypatch.setattr(price_mod, "cpu_rate", lambda dtype: 1e10)
    monkeypatch.setenv("ADVLAB_NO_DOWNLOAD", "1")
    monkeypatch.delenv("ADVLAB_DATA", raising=False)


def test_linear_and_conv_flops_and_memory_are_the_closed_forms() -> None:
    b, n_in, n_out = 4, 30, 7
    lin = Net("linear", lambda d: nn.Linear(n_in, n_out, device=d), (n_in,))
    p = profile(lin, batch=b)
    assert p.fwd == 2 * n_in * n_out  # per image: one multiply-add per weight
    assert p.bwd_train == 2 * n_in * n_out  # dL/dW only (the input needs no gradient)
    assert p.bwd_grad == 2 * n_in * n_out  # dL/dx only (the weights are frozen)
    assert p.saved_train == 4 * n_in  # the input row, saved for dL/dW
    assert p.saved_grad == 0  # dL/dx needs only W, a parameter (not an activation)
    assert p.state_bytes == 4 * (n_in * n_out + n_out)
    cost = p.cost("train", 128, slots=1)
    assert cost.memory == 3 * p.state_bytes + 128 * 4 * n_in + 128 * 4 * n_in
    conv = Net("conv", lambda d: nn.Conv2d(3, 8, 3, padding=1, device=d), (3, 8, 8))
    assert profile(conv).fwd == 2 * 8 * 8 * 8 * 3 * 9  # outputs x (in channels x 3 x 3)


def test_meta_counts_equal_real_tensor_counts() -> None:
    """The meta device counts exactly what a CPU pass on real tensors counts."""
    shape = (3, 32, 32)
    net = Net("allconv", lambda d: build_model("allconv", in_shape=shape, num_classes=10,
                                               kwargs={"width": 8}, device=d), shape)
    meta = profile(net, batch=2)
    model = net.build("cpu").eval()
    x = torch.rand(2, *shape, requires_grad=True)
    with FlopCounterMode(display=False) as fc:
        model(x).sum().backward(inputs=[x])
    assert fc.get_total_flops() == pytest.approx(2 * (meta.fwd + meta.bwd_grad), rel=0, abs=0)


def test_activation_memory_is_linear_in_the_batch() -> None:
    net = Net("r18", lambda d: build_model("resnet18", in_shape=(3, 32, 32), num_classes=10, device=d),
              (3, 32, 32))
    p = profile(net)
    small, large = p.cost("train", 64), p.cost("train", 128)
    assert large.memory - small.memory == pytest.approx(64 * (p.saved_train + p.input_bytes), rel=1e-6)
    assert large.flops == 2 * small.flops


def test_resnet50_constant_is_the_counted_value() -> None:
    assert resnet50_train_flops() == RESNET50_TRAIN_FLOPS
    gpu = a100()
    assert gpu.fp32_flops == pytest.approx(938 * RESNET50_TRAIN_FLOPS)  # published img/s x FLOPs
    assert gpu.bf16_flops == pytest.approx(2470 * RESNET50_TRAIN_FLOPS)


def _by_stage(plan: dict) -> dict[str, dict]:
    return {r["stage"]: r for r in plan["stages"]}


def test_ilyas_plan_covers_every_stage_and_counts_follow_the_config() -> None:
    cfg = resolve_config("cifar10", "full", n_train=1000, n_construct=100, robustify_steps=7,
                         n_relabel=50, **{"robust_train.epochs": 2, "source_train.epochs": 3})
    plan = ilyas_plan(cfg)
    ctx = RunContext(Path("x"), "ilyas2019", cfg, 0, "cpu")
    assert [r["stage"] for r in plan["stages"]] == [s.name for s in ilyas_stages.stages(ctx)]
    rows = _by_stage(plan)
    n_test = 10_000
    # standard source: 3 epochs x 1000 training passes + a test pass per epoch
    assert rows["source_standard"]["backward_passes"] == 3 * 1000
    assert rows["source_standard"]["forward_passes"] == 3 * 1000 + 3 * n_test
    # PGD-7 adversarial training: 7 input-gradient passes per training pass
    assert rows["source_robust"]["backward_passes"] == 2 * 1000 * (1 + 7)
    assert rows["construct_d_r"]["backward_passes"] == 100 * 7
    assert rows["construct_d_rand"]["backward_passes"] == 50 * 100  # Table 6's 100 steps
    assert rows["transfer_resnet50"]["note"].startswith("the D_det model is train_d_det's")
    t = plan["totals"]
    assert t["gpu_seconds"] == pytest.approx(t["flops"] / plan["gpu"]["fp32_flops"], rel=1e-9)
    assert t["cpu_seconds"] == pytest.approx(t["flops"] / 1e10, rel=1e-9)
    assert "cost plan of ilyas2019 (full, cifar10)" in render(plan)


def test_restricted_imagenet_plan_uses_the_imagenet_stem() -> None:
    cfg = resolve_config("restricted-imagenet", "full")
    facts = dataset_facts("restricted-imagenet")
    assert facts.shape == (3, 224, 224) and facts.n_test == 203 * 50
    plans = {p.name: p for p in ilyas_stage_plans(cfg, facts)}
    assert plans["source_standard"].works[0].net.key == "resnet50(stem=imagenet) 3x224x224"
    assert plans["construct_d_r"].works[1].passes == facts.n_train * 2000  # Table 5: 2000 steps


def test_richardson_plan_covers_every_stage(tmp_path: Path) -> None:
    cfg = make_config("digits", "tiny", pairs="0-6")
    plan = rw_plan(cfg)
    ctx = RunContext(tmp_path, "richardson2020", cfg, 0, "cpu")
    assert [r["stage"] for r in plan["stages"]] == [s.name for s in rw_stages.stages(ctx)]
    rows = _by_stage(plan)
    # every searched width trained: epochs x 2 n_train samples each
    cnn = rows["0-6/symmetric/cnn"]["works"]
    assert [w["passes"] for w in cnn if w["kind"] == "train"] == [cfg.cnn_epochs * 2 * cfg.n_train] * len(cfg.cnn_widths)
    attacks = [w for w in cnn if w["kind"] == "grad"]
    assert attacks and not any(w["cpu_only"] for w in attacks)  # attacks follow --device
    rbf = rows["0-6/symmetric/rbf_svm"]["works"]
    assert any(w["cpu_only"] for w in rbf)  # the gamma search and nearest-point start stay on the CPU
    em = rows["0-6/synthetic"]["works"]
    counts = dataset_facts("digits:0-6").train_counts  # read from the data: (0s, 6s)
    assert counts is not None and [w["passes"] for w in em] == [cfg.mfa_iterations * n for n in counts]


def test_cli_plan_prints_json_and_runs_nothing(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["reproduce", "richardson2020", "--dataset", "digits", "--scale",
                                   "tiny", "--plan", "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    plan = json.loads(res.output)
    assert plan["format"] == "advlab.plan/1" and plan["recipe"] == "richardson2020"
    assert plan["totals"]["flops"] > 0 and not list(tmp_path.iterdir())
    missing = CliRunner().invoke(cli, ["reproduce", "ilyas2019", "--scale", "tiny"])
    assert missing.exit_code != 0 and "Missing option '--out'" in missing.output


def test_pricer_adds_cpu_only_work_to_a_gpu_run() -> None:
    pricer = Pricer(a100())
    cfg = make_config("digits", "tiny", pairs="0-6")
    plan = rw_plan(cfg)
    row = _by_stage(plan)["0-6/symmetric/rbf_svm"]  # attacks on the GPU; gamma search on the CPU
    assert row["gpu_seconds"] > 0 and 0 < row["cpu_seconds_in_gpu_run"] < row["cpu_seconds"]
    assert pricer.gpu.fp64_flops < pricer.gpu.fp32_flops
