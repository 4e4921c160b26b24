"""Kill anywhere: SIGKILL a recipe at random moments, rerun it until it finishes, and get the
same results.json figures and the same artifact hashes as an uninterrupted run.

The CI variant kills the Bayes-optimal recipe (digits, tiny) twice; the slow variants kill
the features-paper recipe and the demo several times each.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

#: keys that legitimately differ between runs (timing, the machine, the command's --out)
VOLATILE = {"seconds", "stage_seconds", "provenance", "command", "elapsed_s"}


def _cmd(args: list[str], out: Path) -> list[str]:
    return [sys.executable, "-m", "advlab.cli", *args, "--out", str(out)]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _run(args: list[str], out: Path, timeout: float = 1800) -> float:
    t0 = time.monotonic()
    subprocess.run(_cmd(args, out), check=True, capture_output=True, timeout=timeout, env=_env())
    return time.monotonic() - t0


def _run_with_kills(args: list[str], out: Path, kills: int, span: float, seed: int) -> list[float]:
    """Start the command and SIGKILL it after a random delay, ``kills`` times; then let it
    finish. Each delay is a random fraction (0.05-0.7) of the time the run still needs,
    estimated as ``span`` (an uninterrupted run) minus the time already spent in killed
    runs, so kills land anywhere in the run and not only in its first stages. Returns the
    delays that ended in a kill; at least one must (else the test would prove nothing)."""
    rng, done = random.Random(seed), []
    remaining = span
    for _ in range(kills):
        delay = rng.uniform(0.05, 0.7) * remaining
        proc = subprocess.Popen(_cmd(args, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=_env())
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            done.append(round(delay, 1))
            remaining = max(remaining - delay, 0.1 * span)
        else:
            break  # it finished on its own: nothing left to kill
    assert done, f"no kill landed before the run finished (uninterrupted run: {span:.0f} s)"
    _run(args, out)
    return done


def _figures(obj: Any) -> Any:
    """results.json without the volatile keys (what must be equal after resumption)."""
    if isinstance(obj, dict):
        return {k: _figures(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_figures(v) for v in obj]
    return obj


def _artifact_hashes(root: Path) -> dict[str, str]:
    """sha256 of every dataset artifact and checkpoint written under ``root``."""
    out = {}
    for card in root.rglob("card.json"):
        out[str(card.parent.relative_to(root))] = json.loads(card.read_text())["sha256"]
    for cfg in root.rglob("model.safetensors"):
        doc = json.loads((cfg.parent / "config.json").read_text())
        out[str(cfg.parent.relative_to(root))] = doc.get("weights_sha256")
    return out


def _check(args: list[str], tmp_path: Path, kills: int, seed: int) -> list[float]:
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    span = _run(args, ref)
    delays = _run_with_kills(args, killed, kills, span, seed)
    a = _figures(json.loads((ref / "results.json").read_text()))
    b = _figures(json.loads((killed / "results.json").read_text()))
    assert a == b
    assert _artifact_hashes(ref) == _artifact_hashes(killed) != {}
    return delays


def test_bayes_optimal_recipe_killed_twice_gives_the_same_results(tmp_path: Path) -> None:
    args = ["reproduce", "richardson2020", "--dataset", "digits", "--scale", "tiny",
            "--set", "real_data=false", "--set", "trades=false"]
    delays = _check(args, tmp_path, kills=2, seed=0)
    print(f"killed at {delays} s")


@pytest.mark.slow
def test_features_recipe_killed_five_times_gives_the_same_results(tmp_path: Path) -> None:
    delays = _check(["reproduce", "ilyas2019", "--scale", "tiny"], tmp_path, kills=5, seed=1)
    print(f"killed at {delays} s")


@pytest.mark.slow
def test_demo_killed_four_times_gives_the_same_results(tmp_path: Path) -> None:
    delays = _check(["demo", "--scale", "tiny"], tmp_path, kills=4, seed=2)
    print(f"killed at {delays} s")
