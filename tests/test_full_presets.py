"""The paper-scale (``full``) presets end to end at toy size, on tiny datasets written in
the official on-disk formats (CIFAR-10 binary version, CelebA's folder and list files),
through the command line: only counts are shrunk with ``--set``.

CI runs a lighter variant of each (see the docstrings); the complete runs with every
paper architecture are ``@pytest.mark.slow`` (``make test-slow``). Wall times are in
docs/scale.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
import torchvision.models as tvm
from click.testing import CliRunner
from torch.utils.flop_counter import FlopCounterMode

from advlab.cli import cli
from advlab.errors import AdvlabError
from advlab.experiments.ilyas2019.config import resolve_config
from advlab.experiments.richardson2020.config import make_config
from advlab.models import build_model
from official_formats import write_celeba, write_cifar10

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADVLAB_NO_DOWNLOAD", "1")
    monkeypatch.delenv("ADVLAB_DATA", raising=False)


def _flops(model: torch.nn.Module, shape: tuple[int, ...]) -> int:
    with FlopCounterMode(display=False) as fc:
        model.eval()(torch.zeros((2, *shape), device="meta"))
    return int(fc.get_total_flops())


# ---------------------------------------------------------------- architectures


def test_imagenet_stems_are_torchvisions_networks() -> None:
    """``stem="imagenet"``: the same convolutions as torchvision's ImageNet ResNet-50 /
    DenseNet-121 (the Restricted ImageNet models); the CIFAR stem keeps full resolution."""
    for arch, ref in (("resnet50", tvm.resnet50), ("densenet121", tvm.densenet121)):
        ours = build_model(arch, in_shape=(3, 224, 224), num_classes=9, kwargs={"stem": "imagenet"},
                           device="meta")
        with torch.device("meta"):
            theirs = ref(num_classes=9)
        assert _flops(ours, (3, 224, 224)) == _flops(theirs, (3, 224, 224))
    cifar = build_model("resnet50", in_shape=(3, 32, 32), num_classes=10, device="meta")
    assert _flops(cifar, (3, 32, 32)) == pytest.approx(2 * 2 * 1.298e9, rel=1e-3)  # 1.3 GMAC / image


def test_inception_cifar_stem_matches_the_authors_resolutions() -> None:
    """``stem="cifar"``: the feature-map sizes of the features paper's CIFAR Inception-v3
    (robustness.cifar_models): 30x30 into the first Inception block, 14x14, then 6x6."""
    cm = pytest.importorskip("robustness.cifar_models")
    ours = build_model("inception_v3", in_shape=(3, 32, 32), num_classes=10,
                       kwargs={"stem": "cifar"}).eval()
    theirs = cm.inceptionv3(num_classes=10).eval()
    names = ("Conv2d_4a_3x3", "Mixed_5d", "Mixed_6a", "Mixed_7c")
    shapes: dict[str, list[tuple[int, ...]]] = {"ours": [], "theirs": []}
    for key, root in (("ours", ours.body[0]), ("theirs", theirs)):
        for n in names:
            getattr(root, n).register_forward_hook(
                lambda _m, _i, o, key=key: shapes[key].append(tuple(o.shape)))
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        ours(x), theirs(x)
    assert shapes["ours"] == shapes["theirs"] == [(2, 192, 30, 30), (2, 288, 30, 30),
                                                  (2, 768, 14, 14), (2, 2048, 6, 6)]
    with pytest.raises(AdvlabError, match="stem"):
        build_model("inception_v3", in_shape=(3, 32, 32), num_classes=10, kwargs={"stem": "imagenet"})


# ---------------------------------------------------------------- presets


def test_richardson_full_celeba_uses_the_papers_celeba_mfa() -> None:
    """App. B.1: CelebA, samples/1000 components (0) and latent dimension 10; MNIST 25 and 6."""
    celeba, mnist = make_config("celeba", "full"), make_config("mnist", "full")
    assert (celeba.mfa_components, celeba.mfa_latent_dim) == (0, 10)
    assert (mnist.mfa_components, mnist.mfa_latent_dim) == (25, 6)
    assert make_config("celeba", "quick").mfa_latent_dim == 6  # only the full preset follows the paper


# ---------------------------------------------------------------- end to end at toy size

#: --set overrides that shrink only counts (images, epochs, steps, sample sizes)
ILYAS_COUNTS = [
    "n_train=20", "source_train.epochs=1", "robust_train.epochs=1", "robust_steps=1",
    "n_construct=8", "n_construct_noise=8", "robustify_steps=1", "noise_steps=2",
    "n_construct_test=4", "n_relabel=8", "relabel_steps=1", "constructed_train.epochs=1",
    "rand_train.epochs=1", "det_train.epochs=1", "eval_steps=1", "n_eval=4", "fig8_steps=1,2",
    "n_fig8=4", "transfer_train.epochs=1", "transfer_n_train=20", "transfer_steps=1", "shard_size=8",
]
RICHARDSON_COUNTS = [
    "n_train=24", "n_test=6", "mfa_iterations=2", "cnn_epochs=1", "trades_steps=1",
    "trades_epochs=1", "n_attack=4", "attack_steps=2", "cw_steps=2", "ldgrad_steps=1",
    "sweep_samples_total=24,48,72,96", "sweep_n_attack=4",
]
CELEBA_PAIRS = ("Male", "Smiling", "Bangs", "Heavy_Makeup", "Eyeglasses")


def _reproduce(args: list[str], sets: list[str]) -> tuple[dict, float]:
    t0 = time.monotonic()
    res = CliRunner().invoke(cli, ["reproduce", *args, *[a for s in sets for a in ("--set", s)]],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output[-2000:]
    out = Path(args[args.index("--out") + 1])
    assert (out / "report.html").is_file() and (out / "report.md").stat().st_size > 0
    return json.loads((out / "results.json").read_text()), time.monotonic() - t0


def _stages_done(out: Path) -> list[str]:
    """The stages the run announced (OUT/log.txt), in order."""
    log = (out / "log.txt").read_text().splitlines()
    return [ln.split(": ", 1)[1].split(" (")[0] for ln in log if " stage " in ln]


def _planned(recipe: str, out: Path) -> list[str]:
    """The recipe's stage list for the run's saved config (what every run must execute)."""
    from advlab.experiments.engine import RunContext
    from advlab.experiments.ilyas2019 import stages as ilyas_stages
    from advlab.experiments.ilyas2019.config import IlyasConfig
    from advlab.experiments.richardson2020 import stages as rw_stages
    from advlab.experiments.richardson2020.config import RichardsonConfig
    from advlab.overrides import apply_overrides

    saved = json.loads((out / "config.json").read_text())["config"]
    if recipe == "ilyas2019":
        cfg = apply_overrides(resolve_config("cifar10", "full"), {k: v for k, v in saved.items()
                                                                  if k not in ("dataset", "scale")})
        assert isinstance(cfg, IlyasConfig)
        return [s.name for s in ilyas_stages.stages(RunContext(out, recipe, cfg, 0, "cpu"))]
    reserved = ("dataset", "scale", "pairs", "seed")
    rcfg = make_config("celeba", "full", pairs=tuple(saved["pairs"]),
                       overrides={k: v for k, v in saved.items() if k not in reserved})
    assert isinstance(rcfg, RichardsonConfig)
    return [s.name for s in rw_stages.stages(RunContext(out, recipe, rcfg, 0, "cpu"))]


def _ilyas(tmp_path: Path, extra: list[str]) -> tuple[dict, list[str], float]:
    write_cifar10(tmp_path / "data", 4)  # 20 train / 4 test images, 3 x 32 x 32
    out = tmp_path / "run"
    results, seconds = _reproduce(["ilyas2019", "--scale", "full", "--device", "cpu",
                                   "--data-root", str(tmp_path / "data"), "--out", str(out)],
                                  ILYAS_COUNTS + extra)
    cfg = json.loads((out / "config.json").read_text())["config"]
    assert (cfg["dataset"], cfg["robust_eps"], cfg["robustify_step_size"]) == ("cifar10", 0.5, 0.1)
    assert cfg["constructed_train"]["augment"] == "crop_flip" and cfg["det_train"]["augment"] == "none"
    assert cfg["rand_train"]["lr"] == 0.01 and cfg["eval_eps"] == [0.25, 0.5]
    return results, _stages_done(out), seconds


def _richardson(tmp_path: Path, pairs: tuple[str, ...], extra: list[str]) -> tuple[dict, list[str], float]:
    parts = [0] * 64 + [1] * 4 + [2] * 16  # 64 train (PCA needs 50), 16 test images
    n = len(parts)
    patterns = {a: [(i >> k) % 2 for i in range(n)] for k, a in enumerate(CELEBA_PAIRS)}
    write_celeba(tmp_path / "data", parts, present=patterns)
    out = tmp_path / "run"
    results, seconds = _reproduce(["richardson2020", "--dataset", "celeba", "--pairs", ",".join(pairs),
                                   "--scale", "full", "--device", "cpu", "--data-root",
                                   str(tmp_path / "data"), "--out", str(out)], RICHARDSON_COUNTS + extra)
    cfg = json.loads((out / "config.json").read_text())["config"]
    assert (cfg["mfa_components"], cfg["mfa_latent_dim"], cfg["cnn_widths"]) == (0, 10, [4, 8, 16, 32, 64])
    return results, _stages_done(out), seconds


def test_ilyas2019_full_cifar10_every_stage(tmp_path: Path) -> None:
    """CI variant: the full preset on the CIFAR-10 binary layout, every stage and setting
    of the preset; the source and constructed-set models are the small CNN, and Figure 3
    trains ResNet-50 and Inception-v3 (CIFAR stem) beside two small networks. The run with
    every paper network is the slow test below; test_plan.py counts them all."""
    results, stages, seconds = _ilyas(tmp_path, ["arch=cnn",
                                                 "transfer_archs=resnet50,inception_v3,linear,allconv"])
    assert stages == _planned("ilyas2019", tmp_path / "run") and len(stages) == 37
    assert results["transfer"]["archs"]["inception_v3"]["arch"] == "inception_v3"
    assert set(results["table7"]["rows"]) >= {"standard", "adversarial", "d_r", "d_nr"}
    print(f"ilyas2019 full, CI variant: {len(stages)} stages in {seconds:.0f} s")


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_ilyas2019_full_cifar10_paper_networks(tmp_path: Path) -> None:
    """The full preset as it is: ResNet-50, Figure 3's five architectures (inception_v3
    with the paper's CIFAR stem), Table 3's augmentations, only counts shrunk."""
    results, stages, seconds = _ilyas(tmp_path, [])
    assert stages == _planned("ilyas2019", tmp_path / "run") and len(stages) == 38
    assert set(results["transfer"]["archs"]) == {"resnet50", "resnet18", "vgg16", "densenet121",
                                                 "inception_v3"}
    print(f"ilyas2019 full, paper networks: {len(stages)} stages in {seconds:.0f} s")


def test_richardson2020_full_celeba_one_attribute(tmp_path: Path) -> None:
    """CI variant: the full preset on CelebA's folder layout, one attribute, every kind of
    stage once: the models on the asymmetric data and all but one value of each sweep are
    left to the slow test below (the same code on other data)."""
    results, stages, seconds = _richardson(tmp_path, ("Male",), [
        "models_on_asymmetric=false", "sweep_widths=4", "sweep_samples_total=24",
        "sweep_noise_stds=0.05"])
    assert stages == _planned("richardson2020", tmp_path / "run") and len(stages) == 13
    assert "celeba:Male" in results["datasets"]
    print(f"richardson2020 full celeba, 1 attribute: {len(stages)} stages in {seconds:.0f} s")


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_richardson2020_full_celeba_five_attributes(tmp_path: Path) -> None:
    """The full preset's five CelebA attributes (Figures 13-18's), only counts shrunk."""
    results, stages, seconds = _richardson(tmp_path, CELEBA_PAIRS, [])
    assert stages == _planned("richardson2020", tmp_path / "run") and len(stages) == 25 + 4 * 11
    assert {f"celeba:{a}" for a in CELEBA_PAIRS} <= set(results["datasets"])
    print(f"richardson2020 full celeba, 5 attributes: {len(stages)} stages in {seconds:.0f} s")


def test_too_few_images_for_the_outlier_direction_names_the_setting(tmp_path: Path) -> None:
    """App. B.2's outlier lies along the 50th principal direction: 40 images have 40."""
    write_celeba(tmp_path / "data", [0] * 40 + [2] * 4, present={"Male": [i % 2 for i in range(44)]})
    res = CliRunner().invoke(cli, ["reproduce", "richardson2020", "--dataset", "celeba", "--pairs",
                                   "Male", "--scale", "full", "--data-root", str(tmp_path / "data"),
                                   "--out", str(tmp_path / "run"), "--set", "n_train=8"])
    assert res.exit_code != 0
    assert "--set outlier_pc: got 50; expected an integer in [1, 40] for 40 training images" in str(res.exception)
