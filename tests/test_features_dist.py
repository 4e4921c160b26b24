"""Construction under ``torchrun --nproc_per_node=2`` equals the one-process construction."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import advlab

BIN = Path(sys.executable).parent
ARGS = {"dataset": "digits", "n": 90, "shard_size": 20, "steps": 8, "step_size": 0.1, "seed": 4}


@pytest.mark.skipif(shutil.which("torchrun", path=str(BIN)) is None, reason="torchrun not installed")
def test_two_ranks_build_the_same_artifact_as_one(tmp_path: Path) -> None:
    from advlab.models import build_model, save_checkpoint

    torch.manual_seed(0)
    ck = save_checkpoint(tmp_path / "ck", build_model("cnn", in_shape=(1, 8, 8), num_classes=10,
                                                      width=4, hidden=16))
    # torchrun gives each process OMP_NUM_THREADS=1; CPU kernels round differently with
    # another thread count (~1e-5), so the one-process reference uses one thread too.
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    cli = [str(BIN / "advlab"), "construct", "robust", "--source", str(ck), "--device", "cpu",
           *[f"--{k.replace('_', '-')}={v}" for k, v in ARGS.items()]]
    one = tmp_path / "one"
    done = subprocess.run([*cli, "--out", str(one)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    # "--" ends torchrun's own options: it would otherwise read "--n" as an abbreviation.
    cmd = [str(BIN / "torchrun"), "--standalone", "--nproc_per_node=2", "--no-python", "--",
           *cli, "--out", str(tmp_path / "two")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    a, b = (json.loads((d / "card.json").read_text()) for d in (one, tmp_path / "two"))
    assert a["sha256"] == b["sha256"] and a == b
    x1, y1 = advlab.load_dataset(str(one))
    x2, y2 = advlab.load_dataset(str(tmp_path / "two"))
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and x1.shape[0] == 90
