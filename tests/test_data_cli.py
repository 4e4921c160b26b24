"""``advlab datasets``: list, show, export, and its one-line errors (exit 2, nothing written)."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from advlab.cli import main
from advlab.data.idx import FASHION_DEFAULT

ADVLAB = Path(sys.executable).with_name("advlab")
HAS_FASHION = (FASHION_DEFAULT / "train-images-idx3-ubyte.gz").is_file()


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def test_list_json_has_every_registered_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["datasets", "list", "--json"], capsys)
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0
    assert set(rows) == {"mnist5k", "digits", "fashion-mnist", "mnist", "cifar10", "celeba",
                         "restricted-imagenet"}
    assert rows["cifar10"]["needs_data_root"] and not rows["mnist5k"]["needs_data_root"]
    assert rows["restricted-imagenet"]["classes"][0] == "dog" and rows["celeba"]["shape"] == [3, 64, 64]


def test_show_mnist5k_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["datasets", "show", "mnist5k", "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and d["shape"] == [1, 28, 28]
    assert (d["n_train"], d["n_test"]) == (4000, 1000)
    assert d["per_class_train"] == [400] * 10 and d["per_class_test"] == [100] * 10


@pytest.mark.skipif(not HAS_FASHION, reason="Debian package dataset-fashion-mnist not installed")
def test_show_fashion_mnist_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADVLAB_DATA", raising=False)
    code, out, _ = run_main(["datasets", "show", "fashion-mnist", "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and d["shape"] == [1, 28, 28] and len(d["classes"]) == 10
    assert (d["n_train"], d["n_test"]) == (60000, 10000)
    assert d["per_class_train"] == [6000] * 10 and d["per_class_test"] == [1000] * 10


def _truncated_fashion_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    folder = root / "fashion-mnist"
    folder.mkdir(parents=True)
    head = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (4, 28, 28))
    for prefix, n in (("train", 4), ("t10k", 4)):
        body = np.zeros(n * 28 * 28, np.uint8).tobytes()
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress((head + body)[:-100]))
        lab = bytes([0, 0, 8, 1]) + n.to_bytes(4, "big") + bytes(n)
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(lab))
    return root


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "dataset: unknown dataset 'nosuch'"),
        (["mnist5k:0-"], "dataset: malformed class pair '0-'"),
        (["mnist5k:3-3"], "dataset: malformed class pair '3-3'"),
        (["mnist5k:0-12"], "dataset: class 12 in 'mnist5k:0-12' is out of range"),
        (["mnist5k[:x]"], r"dataset: bad slice \[:x\]"),
        (["cifar10"], "--data-root: cifar10 needs a data root"),
        (["fashion-mnist", "--data-root", "{root}"], r"train-images-idx3-ubyte\.gz: truncated"),
        (["mnist", "--data-root", "{root}/nope"], "--data-root: got .*nope.*not a folder"),
    ],
)
def test_export_errors_are_one_line_exit_2_and_write_nothing(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ADVLAB_DATA", raising=False)
    monkeypatch.setenv("ADVLAB_NO_DOWNLOAD", "1")
    root = _truncated_fashion_root(tmp_path)
    args = [a.replace("{root}", str(root)) for a in args]
    out_dir = tmp_path / "out"
    code, out, err = run_main(["datasets", "export", *args, "--out", str(out_dir)], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("advlab: error: ")
    assert re.search(message, err), err
    assert not out_dir.exists()


def test_export_refuses_an_out_that_is_a_file_and_an_existing_artifact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "file"
    f.write_text("keep me")
    code, _, err = run_main(["datasets", "export", "digits", "--out", str(f)], capsys)
    assert code == 2 and "--out:" in err and "existing file" in err and f.read_text() == "keep me"
    art = tmp_path / "art"
    assert run_main(["datasets", "export", "digits[:10]", "--out", str(art)], capsys)[0] == 0
    before = (art / "card.json").read_text()
    code, _, err = run_main(["datasets", "export", "digits[:20]", "--out", str(art)], capsys)
    assert code == 2 and "--force" in err and (art / "card.json").read_text() == before
    assert run_main(["datasets", "export", "digits[:20]", "--out", str(art), "--force"], capsys)[0] == 0
    assert json.loads((art / "card.json").read_text())["n_train"] == 20


@pytest.mark.skipif(not ADVLAB.exists(), reason="advlab console script not installed in this env")
def test_real_process_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ADVLAB_DATA"} | {"ADVLAB_NO_DOWNLOAD": "1"}
    root = _truncated_fashion_root(tmp_path)
    for args in (["export", "mnist5k:0-12"], ["export", "fashion-mnist", "--data-root", str(root)]):
        out_dir = tmp_path / "out"
        p = subprocess.run([str(ADVLAB), "datasets", *args, "--out", str(out_dir)],
                           capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 2, p.stderr
        assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr and p.stdout == ""
        assert not out_dir.exists()
