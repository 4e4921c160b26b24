"""The recipe engine's --force: every stage recomputes, the training runs and the dataset
constructions inside the stages included, and the same seed gives the same results."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from advlab.experiments import engine
from advlab.experiments.engine import Recipe, RunContext, Stage, run_recipe
from advlab.features import construct_dataset
from advlab.models.checkpoint import WEIGHTS
from advlab.store import sha256_file
from advlab.train import TrainConfig, train

pytestmark = pytest.mark.usefixtures("one_thread")

DATA = "digits[:300]"


def _train(out: Path, dataset: str, seed: int) -> dict[str, Any]:
    cfg = TrainConfig(dataset=dataset, model="mlp", epochs=1, batch_size=64, seed=seed,
                      checkpoint_every_seconds=1e9)
    res = train(cfg, out)
    return {"test_acc": res.final["test_acc"], "weights": sha256_file(out / "last" / WEIGHTS)}


def _stages(ctx: RunContext) -> list[Stage]:
    """A tiny features-paper pipeline: a source model, D_det from it, a model trained on D_det."""
    def source(d: Path) -> dict[str, Any]:
        return _train(d / "run", DATA, ctx.seed)

    def d_det(d: Path) -> dict[str, Any]:
        art = construct_dataset("det", source_checkpoint=ctx.out / "source" / "run", dataset=DATA,
                                out=d / "data", n=24, steps=2, eps=1.0, step_size=0.5,
                                shard_size=12, seed=ctx.seed)
        return {"data": sha256_file(Path(art) / "data.safetensors")}

    def train_det(d: Path) -> dict[str, Any]:
        return _train(d / "run", str(ctx.out / "d_det" / "data"), ctx.seed)

    return [Stage("source", source), Stage("d_det", d_det), Stage("train_det", train_det)]


RECIPE = Recipe("forcetest", _stages, lambda ctx: dict(ctx.results), lambda ctx, r: None,
                lambda ctx, r: None)
#: files written by the training runs and the construction inside the stages
PRODUCTS = ("source/run/last/" + WEIGHTS, "d_det/data/data.safetensors", "train_det/run/last/" + WEIGHTS)


def _run(out: Path, force: bool = False) -> tuple[dict[str, Any], str]:
    log = io.StringIO()
    res = run_recipe(RECIPE, out, config={"n": 24}, seed=3, command="test", force=force, stream=log)
    return res, log.getvalue()


def _stamps(out: Path) -> dict[str, tuple[int, int]]:
    return {p: (os.stat(out / p).st_ino, os.stat(out / p).st_mtime_ns) for p in PRODUCTS}


def _numbers(res: dict[str, Any]) -> dict[str, Any]:
    """A stage's results without its wall time."""
    return {k: v for k, v in res.items() if k != "seconds"}


def test_force_recomputes_training_and_construction_with_the_same_results(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    first, log = _run(out)
    assert log.count("(running)") == 3
    stamps = _stamps(out)
    # leftovers a stage would reuse if its folder survived: a sentinel in each product folder
    for p in PRODUCTS:
        (out / p).parent.joinpath("SENTINEL").write_text("old run")

    capfd.readouterr()
    again, log = _run(out)  # no --force: every stage read back, nothing rewritten
    assert log.count("(cached)") == 3 and "(running)" not in log
    assert _stamps(out) == stamps and again["source"] == first["source"]
    assert "epoch 1:" not in capfd.readouterr().err  # no training ran

    forced, log = _run(out, force=True)
    assert log.count("(running)") == 3 and "(cached)" not in log
    assert capfd.readouterr().err.count("epoch 1:") == 2  # both models trained again
    new = _stamps(out)
    for p in PRODUCTS:  # every model and the dataset written anew
        assert new[p] != stamps[p], p
        assert not (out / p).parent.joinpath("SENTINEL").exists(), p
    for stage in ("source", "d_det", "train_det"):  # same seed, same numbers and files
        assert _numbers(forced[stage]) == _numbers(first[stage]), stage


@pytest.mark.parametrize("args", [
    ["reproduce", "ilyas2019", "--scale", "tiny"],
    ["reproduce", "richardson2020", "--scale", "tiny"],
    ["theory", "toy2d", "--quick"],
    ["demo", "--scale", "tiny"],
])
def test_every_recipe_command_passes_force_to_the_engine(
        args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--force reaches the engine, which clears the folder before any stage runs."""
    from advlab.cli import cli

    class Cleared(Exception):
        pass

    def clear(out: Path) -> None:
        raise Cleared(str(out))

    monkeypatch.setattr(engine, "clear", clear)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, [*args, "--out", str(out), "--force"])
    assert isinstance(result.exception, Cleared) and result.exception.args == (str(out),)
    assert not out.exists()  # nothing ran
