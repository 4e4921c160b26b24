"""The same training command under torchrun with 2 CPU processes (DDP, gloo) reaches
the accuracy of one process; only rank 0 writes the run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ARGS = ["train", "--dataset", "digits", "--model", "cnn", "--model-kwargs", "width=8,hidden=32",
        "--epochs", "3", "--batch-size", "32", "--lr", "0.01", "--seed", "0"]


def test_torchrun_two_processes_matches_one(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, "-m", "advlab.cli", *ARGS, "--out", str(one)], env=env,
                   check=True, capture_output=True, timeout=600)
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node=2", "-m", "advlab.cli", *ARGS, "--out", str(two)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    r1 = json.loads((one / "results.json").read_text())
    r2 = json.loads((two / "results.json").read_text())
    assert r2["world_size"] == 2 and r1["world_size"] == 1
    assert r1["final"]["test_acc"] > 0.9
    assert r2["final"]["test_acc"] == pytest.approx(r1["final"]["test_acc"], abs=0.03)
    # the global batch is the same, so the number of steps and images seen match
    cfg = json.loads((two / "config.json").read_text())
    assert cfg["world_size"] == 2 and cfg["identity"]["batch_size"] == 32
    assert run.stdout.count("trained cnn on digits") == 1  # rank 0 reports, once
