"""SIGKILL mid-epoch, rerun the same command: training resumes and the final weights
equal those of an uninterrupted run (same seed, CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "advlab.cli", "train", "--dataset", "digits", "--model", "cnn",
            "--model-kwargs", "width=8,hidden=32", "--epochs", "12", "--batch-size", "32",
            "--lr", "0.01", "--augment", "crop", "--checkpoint-every", "5", "--seed", "1",
            "--out", str(out)]


def _mid_epoch_checkpoint(out: Path) -> bool:
    try:
        state = json.loads((out / "last" / "state.json").read_text())
    except (OSError, ValueError):  # not there yet, or being swapped in
        return False
    return int(state["step"]) > 0


def test_sigkill_mid_epoch_then_rerun_gives_identical_weights(tmp_path: Path) -> None:
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    subprocess.run(_cmd(ref), env=ENV, check=True, capture_output=True, timeout=600)

    proc = subprocess.Popen(_cmd(cut), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not _mid_epoch_checkpoint(cut):
        assert proc.poll() is None, "training ended before its first mid-epoch checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not (cut / "results.json").exists()  # really interrupted

    again = subprocess.run(_cmd(cut), env=ENV, check=True, capture_output=True, text=True, timeout=600)
    assert "resuming" in again.stderr
    a = load_file(ref / "last" / "model.safetensors")
    b = load_file(cut / "last" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ra = json.loads((ref / "results.json").read_text())
    rb = json.loads((cut / "results.json").read_text())
    assert ra["final"]["test_acc"] == rb["final"]["test_acc"]
