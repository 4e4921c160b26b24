"""The papers' workflows from the command line: build a constructed set, train on it, and
evaluate on the original test set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advlab.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    out = capsys.readouterr()
    assert e.value.code == 0, out.err
    return out.out


def test_train_on_a_d_det_artifact_tests_on_the_original_test_set(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, det, run = tmp_path / "src", tmp_path / "d_det", tmp_path / "on_det"
    _main(["train", "--dataset", "digits", "--model", "mlp", "--epochs", "2", "--out", str(src)], capsys)
    _main(["construct", "det", "--source", str(src), "--dataset", "digits", "--out", str(det),
           "--eps", "2", "--steps", "3", "--n", "200"], capsys)
    res = json.loads(_main(["train", "--dataset", str(det), "--model", "mlp", "--epochs", "1",
                            "--out", str(run), "--json"], capsys))
    assert res["test_dataset"] == "digits" and 0.0 <= res["final"]["test_acc"] <= 1.0
    other = json.loads(_main(["train", "--dataset", str(det), "--test-dataset", "digits:0-1",
                              "--model", "mlp", "--epochs", "1", "--out", str(tmp_path / "x"),
                              "--json"], capsys))
    assert other["test_dataset"] == "digits:0-1"
    saved = json.loads((run / "results.json").read_text())
    assert saved["test_dataset"] == "digits"
