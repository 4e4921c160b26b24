"""Model registry and checkpoints: shapes, features/head split, rebuild from config,
normalisation inside the model, and one-line errors for bad names and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import advlab
from advlab.errors import AdvlabError
from advlab.models import ARCHITECTURES, TRAINABLE, build_model, load_model, save_checkpoint
from advlab.models.checkpoint import load_checkpoint

SMALL = ["cnn", "allconv", "mlp"]
BIG = ["resnet18", "resnet50", "vgg16", "densenet121", "inception_v3"]


def test_architectures_lists_every_design_name() -> None:
    assert set(SMALL + BIG + ["linear_svm", "rbf_svm"]) == set(ARCHITECTURES)
    assert set(TRAINABLE) == set(SMALL + BIG)


@pytest.mark.parametrize("arch", SMALL)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8), (3, 20, 24)])
def test_small_models_map_images_to_logits_through_features(arch: str, shape: tuple[int, int, int]) -> None:
    model = build_model(arch, in_shape=shape, num_classes=7).eval()
    x = torch.rand(4, *shape)
    logits = model(x)
    feats = model.features(x)
    assert logits.shape == (4, 7)
    assert feats.dim() == 2 and feats.shape[0] == 4
    if arch != "allconv":  # allconv's head is a conv + spatial mean, checked below
        torch.testing.assert_close(model.head(feats), logits)


@pytest.mark.parametrize("arch", BIG)
def test_torchvision_models_small_inputs_one_channel(arch: str) -> None:
    model = build_model(arch, in_shape=(1, 28, 28), num_classes=10).eval()
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        logits, feats = model(x), model.features(x)
    expected_dim = {"resnet18": 512, "resnet50": 2048, "vgg16": 512, "densenet121": 1024,
                    "inception_v3": 2048}[arch]
    assert logits.shape == (2, 10) and feats.shape == (2, expected_dim)
    torch.testing.assert_close(model.head(feats), logits)


def test_resnet18_cifar_stem_keeps_resolution() -> None:
    model = build_model("resnet18", in_shape=(3, 32, 32), num_classes=10)
    conv1 = model.body.conv1
    assert conv1.kernel_size == (3, 3) and conv1.stride == (1, 1)
    assert isinstance(model.body.maxpool, torch.nn.Identity)


def test_allconv_follows_cleverhans_layout() -> None:
    # 28x28: L = round(log2 28) = 5 -> 3 scales; widths w, 2w | 2w, 4w | 4w, 8w; avg pools
    model = build_model("allconv", in_shape=(1, 28, 28), num_classes=10, width=4)
    convs = [m for m in model.trunk if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8, 8, 16, 16, 32]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert sum(isinstance(m, torch.nn.AvgPool2d) for m in model.trunk) == 3
    assert sum(isinstance(m, torch.nn.LeakyReLU) for m in model.trunk) == 6
    assert model.features(torch.rand(2, 1, 28, 28)).shape == (2, 32 * 3 * 3)


@pytest.mark.parametrize("arch", SMALL + ["resnet18"])
def test_build_model_from_config_reproduces_architecture(arch: str) -> None:
    a = build_model(arch, in_shape=(1, 28, 28), num_classes=10, mean=0.1307, std=0.3081)
    cfg = json.loads(json.dumps(a.config))  # survives JSON
    b = build_model(**cfg)
    assert b.config == a.config
    b.load_state_dict(a.state_dict())
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(a.eval()(x), b.eval()(x))


def test_normalisation_is_inside_the_model() -> None:
    model = build_model("mlp", in_shape=(2, 4, 4), num_classes=3, mean=[0.2, 0.4], std=[0.5, 0.25])
    x = torch.rand(5, 2, 4, 4)
    z = model.normalize(x)
    torch.testing.assert_close(z[:, 1], (x[:, 1] - 0.4) / 0.25)
    # the first linear layer sees the normalised input
    torch.testing.assert_close(model.features(x), model.body(z))


def test_unknown_architecture_names_model_and_choices() -> None:
    with pytest.raises(AdvlabError, match=r"--model: unknown architecture 'resnet19'.*resnet18"):
        build_model("resnet19", in_shape=(1, 28, 28), num_classes=10)


def test_unknown_model_kwarg_is_a_clear_error() -> None:
    with pytest.raises(AdvlabError, match=r"--model-kwargs: cnn does not take depth"):
        build_model("cnn", in_shape=(1, 28, 28), num_classes=10, depth=3)


def test_checkpoint_roundtrip_and_run_folder(tmp_path: Path) -> None:
    model = build_model("cnn", in_shape=(1, 12, 12), num_classes=4, width=4)
    save_checkpoint(tmp_path / "run" / "last", model, {"metrics": {"test_acc": 0.5}})
    x = torch.rand(3, 1, 12, 12)
    for path in (tmp_path / "run" / "last", tmp_path / "run"):
        loaded = advlab.load_model(path)
        assert not loaded.training
        torch.testing.assert_close(loaded(x), model.eval()(x))
    _, doc = load_checkpoint(tmp_path / "run")
    assert doc["metrics"] == {"test_acc": 0.5} and doc["model"] == model.config
    assert not list((tmp_path / "run").glob(".last*"))  # no temporary folders left


def test_run_folder_never_resolves_to_a_test_selected_best(tmp_path: Path) -> None:
    from advlab.models.checkpoint import checkpoint_folder

    a = build_model("mlp", in_shape=(1, 4, 4), num_classes=2, hidden=[3])
    b = build_model("mlp", in_shape=(1, 4, 4), num_classes=2, hidden=[3])
    save_checkpoint(tmp_path / "run" / "best", a)  # an older version's test-selected model
    with pytest.raises(AdvlabError, match=r"nor a last/ checkpoint; its best/ was selected on the test set"):
        checkpoint_folder(tmp_path / "run")
    save_checkpoint(tmp_path / "run" / "last", b)
    assert checkpoint_folder(tmp_path / "run") == tmp_path / "run" / "last"
    x = torch.rand(2, 1, 4, 4)
    torch.testing.assert_close(load_model(tmp_path / "run")(x), b.eval()(x))
    torch.testing.assert_close(load_model(tmp_path / "run" / "best")(x), a.eval()(x))  # only when named


def test_checkpoint_config_not_matching_weights(tmp_path: Path) -> None:
    model = build_model("cnn", in_shape=(1, 12, 12), num_classes=4, width=4)
    ck = save_checkpoint(tmp_path / "ck", model)
    doc = json.loads((ck / "config.json").read_text())
    doc["model"]["kwargs"]["width"] = 8  # config now describes another architecture
    (ck / "config.json").write_text(json.dumps(doc))
    with pytest.raises(AdvlabError) as e:
        load_model(ck)
    msg = str(e.value)
    assert "model.safetensors: tensor 'body.0.weight' is F32 [4, 1, 3, 3]" in msg
    assert "but the architecture in config.json implies F32 [8, 1, 3, 3]" in msg and "\n" not in msg


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupted_weights_are_refused(tmp_path: Path, damage: str) -> None:
    ck = save_checkpoint(tmp_path / "ck", build_model("mlp", in_shape=(1, 4, 4), num_classes=2))
    f = ck / "model.safetensors"
    data = bytearray(f.read_bytes())
    if damage == "flip":
        data[-3] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    f.write_bytes(bytes(data))
    expected = {"flip": "corrupted \\(sha256 does not match",  # header intact: the hash catches it
                "truncate": "the header describes .* bytes of tensors but the file holds"}[damage]
    with pytest.raises(AdvlabError, match=r"model\.safetensors: " + expected) as e:
        load_model(ck)
    assert "\n" not in str(e.value)


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AdvlabError, match="neither"):
        load_model(tmp_path)


def test_every_checkpoint_has_a_model_card(tmp_path):  # type: ignore[no-untyped-def]
    """README.md beside config.json: architecture, data, threat model, accuracy, command."""
    from advlab.train import AdvConfig, TrainConfig, train

    cfg = TrainConfig(dataset="digits", model="mlp", epochs=1, seed=0,
                      adversarial=AdvConfig(norm="l2", eps=0.5, steps=2))
    train(cfg, tmp_path / "run", command="advlab train --dataset digits --model mlp")
    card = (tmp_path / "run" / "last" / "README.md").read_text()
    for text in ("# mlp checkpoint", "## Architecture", "Trained on `digits`",
                 "PGD adversarial training, l2 ball of radius 0.5", "| clean |",
                 "advlab train --dataset digits --model mlp"):
        assert text in card, text
