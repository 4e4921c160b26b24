"""Run store: atomic writes, stage caching, --out validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from advlab.errors import AdvlabError
from advlab.store import RunDir, atomic_write_json, read_json


def test_stage_runs_once_and_force_recomputes(tmp_path: Path) -> None:
    calls = []

    def work(d: Path) -> dict:
        calls.append(d)
        return {"acc": 0.5}

    run = RunDir(tmp_path / "r")
    assert run.stage("a", work) == {"acc": 0.5}
    assert run.stage("a", work) == {"acc": 0.5}
    assert len(calls) == 1
    assert RunDir(tmp_path / "r", force=True).stage("a", work) == {"acc": 0.5}
    assert len(calls) == 2


def test_interrupted_stage_is_recomputed(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "r")

    def boom(d: Path) -> dict:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run.stage("a", boom)
    assert not run.is_done("a")
    assert run.stage("a", lambda d: 1) == 1


def test_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(AdvlabError, match="--out"):
        RunDir(f)


def test_atomic_json_leaves_no_temporary(tmp_path: Path) -> None:
    atomic_write_json(tmp_path / "a.json", {"x": float("nan"), "y": [1, 2]})
    assert read_json(tmp_path / "a.json") == {"x": "nan", "y": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_check_path_refuses_what_no_os_call_could_open(tmp_path: Path) -> None:
    from advlab.store import check_path

    assert check_path(tmp_path / ("a" * 255)) == tmp_path / ("a" * 255)
    with pytest.raises(AdvlabError, match=r"out: .* longer than the OS allows \(256 bytes in one name"):
        check_path(tmp_path / ("a" * 256), "out")
    with pytest.raises(AdvlabError, match=r"longer than the OS allows .*4999 in all, at most 4095"):
        check_path("/".join(["abcd"] * 1000), "out")
    with pytest.raises(AdvlabError, match="NUL byte"):
        check_path("a\x00b", "out")
