"""Recipes and evaluations under torchrun (2 gloo processes on the CPU) give what one
process gives; rank 0 alone writes the run folder.

Tolerance of the recipe comparisons: every number of results.json within 1e-4 relative
(``REL``), timings and provenance aside. DDP averages the gradients of the two ranks'
half-batches, which sums in another order than one process does, so trained weights and
the float32 construction statistics (representation distances) differ in their last
bits: the largest difference measured on ilyas2019 tiny (channels-last off) is 3.9e-5
absolute (1.8e-5 relative, a median representation distance). Accuracies are counts over at most 1,000
points, so one point is at least 1e-3: a rank that skipped its share of an evaluation
fails (its points would count as not attacked, or not classified), and one that skipped
its construction shards never lets rank 0 finish.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from advlab.evaluate import split

REL = 1e-4
#: keys whose values are timings, the machine or the command line, not results
SKIP = {"provenance", "command", "seconds", "stage_seconds", "train_seconds", "train_images_per_s"}
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def differences(a: Any, b: Any, path: str = "") -> tuple[float, list[str]]:
    """(largest relative difference of any number, other mismatches) of two JSON values."""
    if isinstance(a, dict) and isinstance(b, dict):
        worst, bad = 0.0, [f"{path}: keys {sorted(set(a) ^ set(b))}"] if set(a) != set(b) else []
        for k in set(a) & set(b) - SKIP:
            w, m = differences(a[k], b[k], f"{path}.{k}")
            worst, bad = max(worst, w), bad + m
        return worst, bad
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return 0.0, [f"{path}: lengths {len(a)} != {len(b)}"]
        worst, bad = 0.0, []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            w, m = differences(x, y, f"{path}[{i}]")
            worst, bad = max(worst, w), bad + m
        return worst, bad
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool | str):
        return abs(a - b) / max(1.0, abs(a)), []
    return 0.0, [] if a == b else [f"{path}: {a!r} != {b!r}"]


def files(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def run_both(argv: list[str], tmp_path: Path, *, timeout: int) -> tuple[Path, Path, str]:
    """``python -m advlab.cli ARGV --out one`` and the same under torchrun into ``two``."""
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, "-m", "advlab.cli", *argv, "--out", str(one)], env=ENV,
                   check=True, capture_output=True, timeout=timeout)
    run = subprocess.run([*TORCHRUN, "-m", "advlab.cli", *argv, "--out", str(two)], env=ENV,
                         capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stderr[-3000:]
    return one, two, run.stderr


def assert_same_run(one: Path, two: Path) -> float:
    """Same results (within REL), same files, one log line per event; the worst difference."""
    r1 = json.loads((one / "results.json").read_text())
    r2 = json.loads((two / "results.json").read_text())
    worst, bad = differences(r1, r2)
    assert not bad, bad[:10]
    assert worst <= REL, worst
    # rank 1 wrote nothing of its own: the same files, and every log line once
    assert files(one) == files(two)
    log1, log2 = ((d / "log.txt").read_text().splitlines() for d in (one, two))
    assert len(log2) == len(log1) and len(set(log2)) == len(log2)
    return worst


THEORY = ["theory", "gaussian", "--quick", "--set", "gaussian.eps=1", "--set", "gaussian.dims=2,3",
          "--set", "gaussian.per_sample_n=300,300", "--set", "gaussian.per_sample_eps=1",
          "--set", "gaussian.mc_n=2000", "--set", "gaussian.t1_dim=3",
          "--set", "gaussian.fig4_eps=0,1", "--set", "gaussian.fig14_n=100"]


def test_theory_two_processes_match_one(tmp_path: Path) -> None:
    """A recipe whose stages rank 0 runs alone (the other rank waits for its DONE.json)."""
    one, two, _ = run_both(THEORY, tmp_path, timeout=300)
    assert assert_same_run(one, two) == 0.0  # rank 0 computed it alone: bit for bit


@pytest.mark.slow
def test_ilyas2019_tiny_two_processes_match_one(tmp_path: Path) -> None:
    """DDP training, sharded constructions and split evaluations: the same results.json."""
    # channels-last (the CPU presets' default) is off: under it, adversarial training
    # amplifies DDP's rounding into real differences (docs/scale.md#several-gpus--several-nodes)
    one, two, _ = run_both(["reproduce", "ilyas2019", "--scale", "tiny", "--set",
                            "channels_last=false"], tmp_path, timeout=900)
    assert_same_run(one, two)
    r2 = json.loads((two / "results.json").read_text())
    assert r2["table7"] and r2["transfer"]  # the evaluations ran and were reported
    config = json.loads((two / "source_standard" / "config.json").read_text())
    assert config["world_size"] == 2  # the training stages ran DDP over both ranks


RECIPE = '''
import json, os, sys
from pathlib import Path
import torch
from advlab.evaluate import clean_accuracy, robust_accuracy
from advlab.experiments.engine import Recipe, Stage, run_recipe
from advlab.models import load_model
from advlab.train import TrainConfig, train

torch.set_num_threads(1)
out, marks = Path(sys.argv[1]), Path(sys.argv[2])
g = torch.Generator().manual_seed(0)
x = torch.rand(96, 1, 6, 6, generator=g)
y = (x.mean((1, 2, 3)) > 0.5).long() + 2 * (x[:, 0, 0, 0] > 0.5).long()


def mark(stage):
    marks.mkdir(exist_ok=True)
    (marks / f"{stage}-rank{os.environ.get('RANK', '0')}-of{os.environ.get('WORLD_SIZE', '1')}").touch()


def fit(d):
    mark("fit")
    cfg = TrainConfig(dataset="toy", model="mlp", model_kwargs={"hidden": [32]}, epochs=3,
                      batch_size=16, lr=0.1, seed=0)
    res = train(cfg, d / "run", train_data=(x, y), test_data=(x, y))
    return {"checkpoint": "run/last", "test_acc": res.final["test_acc"],
            "rank": int(os.environ.get("RANK", "0"))}


def evaluate(d):
    mark("evaluate")
    model = load_model(str(out / "fit" / "run" / "last"))
    acc = robust_accuracy(model, x, y, norm="l2", eps=[0.1, 0.3], steps=5, checks=False)
    return {"clean": clean_accuracy(model, x, y), "robust": {str(k): v for k, v in acc.items()}}


def alone(d):
    mark("alone")
    (d / "note.txt").write_text("rank 0 alone")
    return {"world_seen": os.environ.get("WORLD_SIZE", "1")}


recipe = Recipe("toy", lambda ctx: [Stage("fit", fit), Stage("evaluate", evaluate),
                                    Stage("alone", alone, ranks="main")],
                lambda ctx: dict(ctx.results), lambda ctx, r: None,
                lambda ctx, r: (ctx.out / "report.md").write_text("toy"))
res = run_recipe(recipe, out, config={"n": 96}, seed=0, command="toy")
assert res["fit"]["rank"] == 0 and res["alone"]["world_seen"] == "1", res  # on every rank
'''


def test_engine_stage_modes_over_two_ranks(tmp_path: Path) -> None:
    """A toy recipe: DDP training and a split evaluation on every rank (rank 0's results
    read back everywhere), a stage rank 0 runs alone as one process; the same results.json
    as one process within REL."""
    script = tmp_path / "recipe.py"
    script.write_text(RECIPE)
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, str(script), str(one), str(tmp_path / "m1")], env=ENV,
                   check=True, timeout=300)
    run = subprocess.run([*TORCHRUN, str(script), str(two), str(tmp_path / "m2")], env=ENV,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert assert_same_run(one, two) <= REL
    assert sorted(p.name for p in (tmp_path / "m2").iterdir()) == [
        "alone-rank0-of1", "evaluate-rank0-of2", "evaluate-rank1-of2", "fit-rank0-of2",
        "fit-rank1-of2"]
    r2 = json.loads((two / "results.json").read_text())
    assert 0 < r2["evaluate"]["robust"]["0.3"] < r2["evaluate"]["clean"]  # a real evaluation
    assert json.loads((two / "fit" / "run" / "config.json").read_text())["world_size"] == 2


WORKER = '''
import json, os, sys
import torch
from torch import nn
import torch.distributed as dist
from advlab.evaluate import accuracy_vs_steps, clean_accuracy, robust_flags, transfer_success
from advlab.evaluate.split import over_ranks, ranks

torch.set_num_threads(1)
if int(os.environ.get("WORLD_SIZE", "1")) > 1:
    dist.init_process_group("gloo")


def net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 4)).eval()


g = torch.Generator().manual_seed(0)
x, y = torch.rand(70, 3, 4, 4, generator=g), torch.randint(0, 4, (70,), generator=g)
source, target = net(1), net(2)
y = torch.where(torch.rand(70, generator=g) < 0.7, source(x).argmax(1), y)  # mostly correct
with over_ranks():
    flags = robust_flags(source, x, y, norm="l2", eps=[1.0, 1.5], steps=4, seed=3, checks=False)
    prior = torch.arange(70) % 3 != 0
    again = robust_flags(source, x, y, norm="l2", eps=1.5, steps=4, seed=4, checks=False,
                         step_size=0.5, robust=prior)
    out = {"world": ranks()[1],
           "flags": {str(e): f.tolist() for e, f in flags.items()},
           "again": next(iter(again.values())).tolist(),
           "clean": clean_accuracy(source, x, y, batch_size=8),
           "steps": accuracy_vs_steps(source, x, y, norm="l2", eps=1.5, steps_list=[1, 3], seed=5),
           "transfer": transfer_success(source, {"t": target}, x, y, norm="l2", eps=1.5, steps=3)}
if ranks()[0] == 0:
    with open(sys.argv[1], "w") as f:
        json.dump(out, f)
if dist.is_initialized():
    dist.destroy_process_group()  # else gloo's threads may abort the exit (SIGABRT)
'''


def test_evaluation_split_over_two_ranks_gives_one_process_flags(tmp_path: Path) -> None:
    """robust_flags, clean_accuracy, accuracy_vs_steps and transfer_success: the same per
    point over 2 gloo ranks as in one process (5 chunks of 16 points: rank 1 owns 2)."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    subprocess.run([sys.executable, str(script), str(one)], env=ENV, check=True, timeout=300)
    run = subprocess.run([*TORCHRUN, str(script), str(two)], env=ENV, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert (a.pop("world"), b.pop("world")) == (1, 2)
    assert a == b  # bit for bit: the same chunks, seeds and batches
    robust = [sum(f) for f in a["flags"].values()]
    assert robust[0] > robust[1] > 0  # the attacks fooled some points, not all
    assert sum(a["again"]) < sum(i % 3 != 0 for i in range(70))  # prior respected, attack bit


def test_chunks_cover_the_points_whatever_the_rank_count() -> None:
    """The chunk layout depends on n and the batch size only; chunk seeds differ."""
    for n, batch in ((1, 256), (16, 256), (70, 256), (1000, 256), (10_000, 256), (300, 64)):
        bounds = split.chunks(n, batch)
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
        size = split.chunk_size(n, batch)
        assert size <= batch and all(hi - lo <= size for lo, hi in bounds)
        assert len(bounds) >= min(split.MAX_SPLIT, n // split.MIN_CHUNK)
    assert split.chunk_seed(7, 0) == 7
    assert len({split.chunk_seed(7, i) for i in range(50)}) == 50
    assert split.ranks() == (0, 1) and split.mine(3) == [0, 1, 2]  # one process: every chunk
    with split.over_ranks():
        assert split.ranks() == (0, 1)  # no process group: nothing to split over
        t = torch.arange(4)
        assert split.all_sum(t) is t
