"""``advlab attack --save DIR``: the adversarial examples as a dataset artifact (x_adv, y,
per-sample success and norms, the attack's provenance), never overwritten, never half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import advlab
from advlab.cli import main
from advlab.evaluate.saving import SAMPLES_FILE, read_samples
from advlab.models.checkpoint import WEIGHTS
from advlab.seeding import seeded_subset
from advlab.store import sha256_file

pytestmark = pytest.mark.usefixtures("one_thread")

N = 40


def _attack(ckpt: Path, save: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(["attack", "--min-norm", "--checkpoint", str(ckpt), "--dataset", "digits", "--n",
              str(N), "--steps", "30", "--json", "--save", str(save)])
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def _saved(save: Path, checkpoint: Path, n: int
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """The saved artifact read back against the digits test points it came from: (x, x_adv,
    y_adv, samples, fooled), after checking its indices and labels."""
    x_adv, y_adv = advlab.load_dataset(str(save))
    samples = read_samples(save)
    x, y = advlab.load_dataset("digits", "test")
    idx = seeded_subset(len(x), n, 0)
    assert torch.equal(samples["index"], idx) and torch.equal(y_adv, y[idx])
    with torch.no_grad():
        fooled = advlab.load_model(checkpoint)(x_adv).argmax(1) != y_adv
    return x[idx], x_adv, y_adv, samples, fooled

def test_saved_examples_are_an_artifact_that_matches_the_attack(
        digits_mlp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save = tmp_path / "adv"
    code, out, err = _attack(digits_mlp, save, capsys)
    assert code == 0, err
    res = json.loads(out)
    x, x_adv, y_adv, samples, fooled = _saved(save, digits_mlp, N)
    ok, clean = samples["success"], samples["clean_success"]
    assert torch.equal(fooled, ok)
    assert res["success_rate"] == pytest.approx(float(ok[~clean].float().mean()))
    dist = (x_adv - x).flatten(1).norm(dim=1)
    assert torch.allclose(samples["norms"][ok], dist[ok], atol=1e-5)
    assert torch.isinf(samples["norms"][~ok]).all() and torch.equal(x_adv[~ok], x[~ok])
    with torch.no_grad():
        assert torch.equal(clean, advlab.load_model(digits_mlp)(x).argmax(1) != y_adv)
    assert 0.0 <= float(x_adv.min()) and float(x_adv.max()) <= 1.0
    card = json.loads((save / "card.json").read_text())
    prov = card["provenance"]
    assert prov["attack"]["class"] == "FMN" and prov["attack"]["config"]["steps"] == 30
    assert prov["source_model"]["sha256"] == sha256_file(digits_mlp / WEIGHTS)
    assert prov["source_dataset"] == {"name": "digits", "split": "test"} and prov["n"] == N
    assert prov["samples"]["sha256"] == sha256_file(save / SAMPLES_FILE)
    assert prov["command"].startswith("advlab ") and res["saved"]["sha256"] == card["sha256"]
    print(f"saved {N} examples: success {float(ok.float().mean()):.3f}, median L2 "
          f"{float(samples['norms'][ok & ~clean].median()):.3f}")


def test_save_refuses_to_overwrite_and_leaves_nothing_half_written(
        digits_mlp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    save = tmp_path / "adv"
    save.mkdir()
    (save / "mine.txt").write_text("keep me")
    code, _, err = _attack(digits_mlp, save, capsys)
    assert code == 2 and err.count("\n") == 1 and "--save" in err and "does not exist yet" in err
    assert [p.name for p in save.iterdir()] == ["mine.txt"]

    import advlab.data.artifact as artifact

    def broken(*a: object, **k: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(artifact, "save_artifact", broken)
    with pytest.raises(OSError, match="disk full"):
        main(["attack", "--min-norm", "--checkpoint", str(digits_mlp), "--dataset", "digits",
              "--n", "5", "--steps", "5", "--save", str(tmp_path / "new")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adv"]  # no folder, no leftovers


def test_training_on_saved_examples_tests_on_the_source_dataset(
        digits_mlp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save = tmp_path / "adv"
    assert _attack(digits_mlp, save, capsys)[0] == 0
    with pytest.raises(SystemExit) as e:
        main(["train", "--dataset", str(save), "--model", "mlp", "--epochs", "1",
              "--out", str(tmp_path / "run"), "--json"])
    out = capsys.readouterr()
    assert e.value.code == 0, out.err
    assert json.loads(out.out)["test_dataset"] == "digits"


@pytest.mark.parametrize("name", ["pgd", "apgd", "apgd-t", "fab-t", "square", "autoattack"])
def test_fixed_eps_attacks_save_their_examples(name: str, digits_mlp: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """``advlab attack --attack NAME --eps E --save DIR``: the saved x_adv is adversarial
    exactly where ``success`` says, within eps there, the clean point elsewhere (norm inf);
    the card names the attack and eps; the JSON's accuracies match the saved flags."""
    save, eps, n = tmp_path / "adv", 1.0, 24
    with pytest.raises(SystemExit) as e:
        main(["attack", "--attack", name, "--eps", str(eps), "--checkpoint", str(digits_mlp),
              "--dataset", "digits", "--n", str(n), "--steps", "10", "--json", "--save",
              str(save)])
    out, err = capsys.readouterr()
    assert e.value.code == 0, err
    res = json.loads(out)
    x, x_adv, y_adv, samples, fooled = _saved(save, digits_mlp, n)
    ok, clean = samples["success"], samples["clean_success"]
    assert torch.equal(fooled, ok) and (ok & ~clean).any() and (clean <= ok).all()
    dist = (x_adv - x).flatten(1).norm(dim=1)
    assert (dist[ok] <= eps + 1e-5).all() and torch.allclose(samples["norms"][ok], dist[ok],
                                                             atol=1e-5)
    assert torch.isinf(samples["norms"][~ok]).all() and torch.equal(x_adv[~ok], x[~ok])
    assert res["robust_accuracy"] == pytest.approx(float((~ok).float().mean()))
    assert res["success_rate"] == pytest.approx(float(ok[~clean].float().mean()))
    prov = json.loads((save / "card.json").read_text())["provenance"]
    assert prov["attack"]["eps"] == eps and prov["attack"]["norm"] == "l2"
    assert prov["attack"]["class"] == {"pgd": "PGD", "apgd": "APGD", "apgd-t": "APGDT",
                                       "fab-t": "FABT", "square": "Square",
                                       "autoattack": "autoattack"}[name]


def test_fixed_eps_attack_needs_eps(digits_mlp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["attack", "--attack", "apgd", "--checkpoint", str(digits_mlp), "--dataset",
              "digits", "--n", "4"])
    assert e.value.code == 2 and "--eps" in capsys.readouterr().err
