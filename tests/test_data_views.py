"""Name syntax, class-pair and slice views, the registry, artifacts (export -> load)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from advlab.data import REGISTRY, describe, load_artifact, load_dataset, open_source
from advlab.data.spec import parse_name
from advlab.errors import AdvlabError
from advlab.store import sha256_file


def test_mnist5k_pair_gives_800_train_images_labelled_0_1() -> None:
    x, y = load_dataset("mnist5k:0-6")
    assert x.shape == (800, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and torch.bincount(y).tolist() == [400, 400]
    full_x, full_y = load_dataset("mnist5k")
    torch.testing.assert_close(x[y == 0], full_x[full_y == 0], rtol=0, atol=0)
    torch.testing.assert_close(x[y == 1], full_x[full_y == 6], rtol=0, atol=0)


def test_mnist5k_split_is_stratified_400_100_and_disjoint() -> None:
    d = describe("mnist5k")
    assert (d["n_train"], d["n_test"]) == (4000, 1000)
    assert d["per_class_train"] == [400] * 10 and d["per_class_test"] == [100] * 10
    xtr, _ = load_dataset("mnist5k", "train")
    xte, _ = load_dataset("mnist5k", "test")
    tr = {hash(r.numpy().tobytes()) for r in xtr.flatten(1)}
    shared = sum(hash(r.numpy().tobytes()) in tr for r in xte.flatten(1))
    assert shared <= 2  # mnist_data holds a few exact duplicates at most, never the split's fault
    assert 0.0 <= float(xtr.min()) and float(xtr.max()) <= 1.0


def test_registry_entries_match_what_loads() -> None:
    for name in ("mnist5k", "digits"):
        d, info = describe(name), REGISTRY[name]
        assert (d["n_train"], d["n_test"]) == (info.n_train, info.n_test)
        assert tuple(d["shape"]) == info.shape and d["dtype"] == info.dtype


@settings(max_examples=40, deadline=None)
@given(
    start=st.one_of(st.none(), st.integers(-120, 120)),
    stop=st.one_of(st.none(), st.integers(-120, 120)),
    step=st.one_of(st.none(), st.integers(-5, 5).filter(lambda s: s != 0)),
)
def test_slice_view_matches_python_slicing(start: int | None, stop: int | None, step: int | None) -> None:
    base = open_source("digits:3-8")  # 290-odd images: small and fast
    body = ":".join("" if v is None else str(v) for v in (start, stop, step))
    expected = list(range(len(base)))[slice(start, stop, step)]
    if not expected:
        with pytest.raises(AdvlabError, match="selects no images"):
            open_source(f"digits:3-8[{body}]")
        return
    view = open_source(f"digits:3-8[{body}]")
    assert view.labels.tolist() == [int(base.labels[i]) for i in expected]
    assert view.index.tolist() == [int(base.index[i]) for i in expected]


def test_pair_then_slice_order_is_documented_order() -> None:
    x, y = load_dataset("mnist5k:0-6[:10]", "test")
    px, py = load_dataset("mnist5k:0-6", "test")
    torch.testing.assert_close(x, px[:10], rtol=0, atol=0)
    assert y.tolist() == py[:10].tolist()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nosuch", "unknown dataset 'nosuch'"),
        ("mnist5k:0-", "malformed class pair '0-'"),
        ("mnist5k:3-3", "malformed class pair '3-3'"),
        ("mnist5k:a-b", "malformed class pair 'a-b'"),
        ("mnist5k:0-12", "class 12 in 'mnist5k:0-12' is out of range"),
        ("mnist5k[1]", r"bad slice \[1\]"),
        ("mnist5k[a:b]", r"bad slice \[a:b\]"),
        ("mnist5k[::0]", "step must not be 0"),
        ("mnist5k[10:5]", "selects no images"),
        ("mnist5k[:5]:0-6", "the slice goes last"),
        ("./no/such/folder", "no such folder"),
        ("", "dataset: got ''"),
    ],
)
def test_bad_names_are_one_line_errors_naming_the_argument(name: str, message: str) -> None:
    with pytest.raises(AdvlabError, match=message) as e:
        load_dataset(name)
    assert str(e.value).startswith(("dataset:", "split:")) and "\n" not in str(e.value)


def test_bad_split() -> None:
    with pytest.raises(AdvlabError, match="split: got 'val'"):
        load_dataset("mnist5k", "val")


def test_folder_names_parse_before_the_syntax(tmp_path: Path) -> None:
    odd = tmp_path / "a:0-6[:3]"
    odd.mkdir()
    assert parse_name(str(odd)).is_folder and parse_name(str(odd)).window is None
    spec = parse_name(f"{tmp_path}[:3]")
    assert spec.is_folder and spec.window == slice(None, 3, None)


def test_registered_name_wins_over_a_local_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digits").mkdir()
    assert load_dataset("digits[:3]")[0].shape == (3, 1, 8, 8)
    with pytest.raises(AdvlabError, match="neither an advlab dataset artifact"):
        load_dataset("./digits")


@pytest.mark.parametrize("name", ["mnist5k:0-6", "digits[:100]"])
def test_export_then_load_gives_identical_tensors(tmp_path: Path, name: str) -> None:
    from advlab.cli import main

    out = tmp_path / "art"
    with pytest.raises(SystemExit) as e:
        main(["datasets", "export", name, "--out", str(out)])
    assert e.value.code == 0
    card = json.loads((out / "card.json").read_text())
    assert card["dtype"] == ("float32" if name.startswith("digits") else "uint8")
    for split in ("train", "test"):
        xa, ya = load_artifact(out, split)
        xd, yd = load_dataset(name, split)
        assert torch.equal(xa, xd) and torch.equal(ya, yd) and xa.dtype == xd.dtype
        xl, yl = load_dataset(str(out), split)
        assert torch.equal(xl, xd) and torch.equal(yl, yd)
    assert describe(str(out))["per_class_train"] == describe(name)["per_class_train"]


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    from advlab.data import save_artifact

    x, y = load_dataset("mnist5k[:50]")
    return save_artifact(tmp_path / "art", (x * 255).round().to(torch.uint8), y, name="mnist5k[:50]")


def test_flipped_byte_in_data_file_is_refused_naming_it(artifact: Path) -> None:
    f = artifact / "data.safetensors"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(AdvlabError, match=r"data\.safetensors: sha256 .* does not match card\.json"):
        load_dataset(str(artifact))


def test_card_whose_shape_disagrees_is_refused(artifact: Path) -> None:
    card_path = artifact / "card.json"
    card = json.loads(card_path.read_text())
    card["shape"] = [1, 28, 27]
    card_path.write_text(json.dumps(card))
    assert card["sha256"] == sha256_file(artifact / "data.safetensors")
    with pytest.raises(AdvlabError, match=r"data\.safetensors: tensor 'x' is U8 \[50, 1, 28, 28\] "
                                          r"but card\.json implies U8 \[50, 1, 28, 27\]"):
        load_dataset(str(artifact))


def test_artifact_without_test_split_names_the_split(artifact: Path) -> None:
    with pytest.raises(AdvlabError, match="split: got 'test' but the artifact"):
        load_dataset(str(artifact), "test")
    d = describe(str(artifact))
    assert d["n_train"] == 50 and d["n_test"] == 0
