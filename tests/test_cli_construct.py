"""``advlab construct`` from the command line: --trust-unverified (as evaluate / attack have
it) and progress lines off a terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import advlab
from advlab.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def unhashed_mlp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits MLP whose config.json lost its weights hash (e.g. written by hand)."""
    from advlab.models import build_model
    from advlab.models.checkpoint import save_checkpoint

    path = tmp_path_factory.mktemp("ckpt") / "mlp"
    save_checkpoint(path, build_model("mlp", in_shape=(1, 8, 8), num_classes=10, hidden=(32,)))
    cfg = json.loads((path / "config.json").read_text())
    del cfg["weights_sha256"]
    (path / "config.json").write_text(json.dumps(cfg))
    return path


def _construct(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        main(["construct", "det", "--dataset", "digits", "--eps", "2", "--steps", "2", "--n", "20",
              *args])
    return int(e.value.code or 0), capsys.readouterr().err


def test_construct_trusts_an_unverified_source_only_when_asked(
        unhashed_mlp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = _construct(["--source", str(unhashed_mlp), "--out", str(tmp_path / "a")], capsys)
    assert code == 2 and err.count("\n") == 1 and "--trust-unverified" in err
    assert not (tmp_path / "a").exists()
    monkeypatch.setenv("ADVLAB_PROGRESS_SECONDS", "0")  # a plain progress line per update
    with pytest.warns(UserWarning, match="loaded WITHOUT verification"):
        code, err = _construct(["--source", str(unhashed_mlp), "--out", str(tmp_path / "b"),
                                "--trust-unverified"], capsys)
    assert code == 0, err
    x, _ = advlab.load_dataset(str(tmp_path / "b"))
    assert x.shape == (20, 1, 8, 8)
    lines = [ln for ln in err.splitlines() if ln.startswith("[construct det]")]
    assert lines and "20/20 img (100%)" in lines[-1], err
