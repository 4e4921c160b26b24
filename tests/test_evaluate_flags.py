"""Robust flags saved by ``advlab evaluate --out DIR``: a rerun with a stronger attack in the
same folder attacks exactly the points still robust, never raises robust accuracy, and
records every attack that touched the flags; the flags file is checked on read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import advlab
from advlab.attacks.base import FixedEpsAttack
from advlab.cli import main
from advlab.errors import AdvlabError
from advlab.evaluate.flags import FLAGS_FILE, RobustFlags, read_flags, write_flags
from advlab.seeding import seeded_subset

pytestmark = pytest.mark.usefixtures("one_thread")

N, EPS = 60, ["0.5", "1"]


def _evaluate(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "--dataset", "digits", "--n", str(N), "--eps", ",".join(EPS),
              "--no-checks", "--json", *args])
    out = capsys.readouterr()
    assert e.value.code == 0, out.err
    return json.loads(out.out)  # type: ignore[no-any-return]


def _recorder(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float, torch.Tensor]]:
    """Record (attack class, eps, x) of every fixed-eps attack call."""
    calls: list[tuple[str, float, torch.Tensor]] = []
    real = FixedEpsAttack.__call__

    def call(self: FixedEpsAttack, model: Any, x: torch.Tensor, y: torch.Tensor, **kw: Any) -> Any:
        calls.append((type(self).__name__, float(kw["eps"]), x.detach().clone()))
        return real(self, model, x, y, **kw)

    monkeypatch.setattr(FixedEpsAttack, "__call__", call)
    return calls


def test_rerun_with_autoattack_attacks_only_the_points_still_robust(
        digits_mlp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "ev"
    ck = ["--checkpoint", str(digits_mlp), "--out", str(out)]
    weak = _evaluate([*ck, "--steps", "1", "--step-size", "0.01"], capsys)  # PGD, one tiny step
    first = read_flags(out / FLAGS_FILE)
    x, y = advlab.load_dataset("digits", "test")
    idx = seeded_subset(len(x), N, 0)
    x = x[idx]

    calls = _recorder(monkeypatch)
    strong = _evaluate([*ck, "--attack", "autoattack-apgd"], capsys)
    second = read_flags(out / FLAGS_FILE)
    # APGD-CE opens the ensemble at each eps: it got exactly the points still robust,
    # i.e. robust in the first run's flags and not fooled at the smaller eps just before
    opening = [(e, xs) for name, e, xs in calls if name == "APGD"]
    assert [e for e, _ in opening] == [0.5, 1.0]
    still, report = first.flags[("l2", 0.5)], []
    for e, xs in opening:
        still = still & first.flags[("l2", e)]
        report.append(f"eps {e}: attacked {len(xs)} points; robust after the weak attack "
                      f"{int(first.flags[('l2', e)].sum())}")
        assert len(xs) == int(still.sum()) == strong["attacked"][f"{e:g}"] > 0
        assert torch.equal(xs, x[still])  # the very images, in order
        still = second.flags[("l2", e)]
    for k in EPS:
        assert strong["robust_accuracy"][k] <= weak["robust_accuracy"][k]
    assert strong["robust_accuracy"]["1"] < weak["robust_accuracy"]["1"]  # it found more
    for key, f in second.flags.items():
        assert not (f & ~first.flags[key]).any()  # flags only get stricter
    names = [r["attack"]["name"] for r in strong["robust_flags"]["attacks"]]
    assert names == ["default", "autoattack-apgd"] and strong["attack"]["members"] == ["apgd-ce", "apgd-t"]
    assert strong["robust_flags"]["attacks"][0]["attack"]["members"] == ["pgd"]
    assert json.loads((out / "results.json").read_text())["robust_flags"]["attacks"][1]["fooled"] \
        == {k: strong["attacked"][k] - round(strong["robust_accuracy"][k] * N) for k in EPS}

    calls.clear()  # the same command again reads its result back
    assert _evaluate([*ck, "--attack", "autoattack-apgd"], capsys) == strong and not calls
    fresh = _evaluate([*ck, "--attack", "autoattack-apgd", "--force"], capsys)
    assert [r["attack"]["name"] for r in fresh["robust_flags"]["attacks"]] == ["autoattack-apgd"]
    assert fresh["attacked"]["0.5"] == round(fresh["clean_accuracy"] * N)
    print("; ".join(report), "| robust accuracy weak", weak["robust_accuracy"], "then",
          strong["robust_accuracy"])


def test_flags_of_another_model_are_replaced_with_a_warning(
        digits_mlp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from advlab.models import build_model
    from advlab.models.checkpoint import save_checkpoint

    out = tmp_path / "ev"
    _evaluate(["--checkpoint", str(digits_mlp), "--out", str(out), "--steps", "2"], capsys)
    other = tmp_path / "other"
    save_checkpoint(other, build_model("mlp", in_shape=(1, 8, 8), num_classes=10, hidden=(16,)))
    res = _evaluate(["--checkpoint", str(other), "--out", str(out), "--steps", "2"], capsys)
    assert any("another checkpoint or of other points" in w for w in res["warnings"])
    assert [r["attack"]["name"] for r in res["robust_flags"]["attacks"]] == ["default"]
    assert res["attacked"]["0.5"] == round(res["clean_accuracy"] * N)


def test_modified_flags_are_refused_in_one_line(
        digits_mlp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ev"
    _evaluate(["--checkpoint", str(digits_mlp), "--out", str(out), "--steps", "2"], capsys)
    data = bytearray((out / FLAGS_FILE).read_bytes())
    data[-1] ^= 1  # a flag flipped
    (out / FLAGS_FILE).write_bytes(bytes(data))
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "--checkpoint", str(digits_mlp), "--dataset", "digits", "--n", str(N),
              "--eps", "0.5,1", "--attack", "autoattack-apgd", "--out", str(out)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "do not match their recorded sha256" in err


def test_prior_nests_across_eps_and_round_trips(tmp_path: Path) -> None:
    rf = RobustFlags("a" * 64, "b" * 64, 4)
    rf.update("l2", {0.5: torch.tensor([True, True, False, True]),
                     1.0: torch.tensor([True, False, False, True])}, {"attack": {"name": "x"}})
    rf.update("linf", {8 / 255: torch.tensor([False, True, True, True])}, {"attack": {"name": "y"}})
    assert rf.prior("l2", 0.25) is None
    assert rf.prior("l2", 0.75).tolist() == [True, True, False, True]
    assert rf.prior("l2", 2.0).tolist() == [True, False, False, True]  # AND over eps' <= 2
    assert rf.prior("linf", 8 / 255).tolist() == [False, True, True, True]
    write_flags(tmp_path / "f.safetensors", rf)
    back = read_flags(tmp_path / "f.safetensors")
    assert back.flags.keys() == rf.flags.keys() and back.attacks == rf.attacks
    assert all(torch.equal(back.flags[k], v) for k, v in rf.flags.items())
    assert (back.weights_sha256, back.points_sha256, back.n) == ("a" * 64, "b" * 64, 4)
    (tmp_path / "g.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(AdvlabError, match="not an advlab robust-flags file"):
        read_flags(tmp_path / "g.safetensors")


def test_autoattack_refuses_the_default_protocols_settings(digits_mlp: Path) -> None:
    from advlab.evaluate.protocol import EvalConfig

    for name, value in (("steps", 10), ("restarts", 2), ("step_size", 0.1)):
        with pytest.raises(AdvlabError, match=f"{name}: got .*AutoAttack fixes every setting"):
            EvalConfig(checkpoint=str(digits_mlp), dataset="digits", attack="autoattack",
                       **{name: value})  # type: ignore[arg-type]
    with pytest.raises(AdvlabError, match="attack: got 'pgd'"):
        EvalConfig(checkpoint=str(digits_mlp), dataset="digits", attack="pgd")  # type: ignore[arg-type]


@pytest.mark.parametrize("norm, eps", [("l2", "0.5"), ("linf", "8/255")])
def test_cli_autoattack_standard_runs_every_member_with_checks(
        digits_mlp: Path, tmp_path: Path, norm: str, eps: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "--checkpoint", str(digits_mlp), "--dataset", "digits", "--n", "20",
              "--eps", eps, "--norm", norm, "--attack", "autoattack", "--json",
              "--out", str(tmp_path / "ev")])
    out = capsys.readouterr()
    assert e.value.code == 0, out.err
    res = json.loads(out.out)
    (key,) = res["robust_accuracy"]
    after = list(res["accuracy_after"][key].values())
    assert list(res["accuracy_after"][key]) == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert res["attack"] == {**res["attack"], "name": "autoattack", "version": "standard"}
    assert after == sorted(after, reverse=True) and after[-1] == res["robust_accuracy"][key]
    assert res["robust_accuracy"][key] <= res["clean_accuracy"]
    assert res["attacked"][key] == round(res["clean_accuracy"] * 20)
    saved = json.loads((tmp_path / "ev" / "config.json").read_text())["config"]
    assert saved["attack"] == "autoattack" and saved["norm"] == norm
