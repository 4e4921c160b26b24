"""Trust boundaries: every hostile input the bad-input campaign found is refused with one
clean AdvlabError naming the file, before anything large is allocated; data contracts
hold on load and on write; integrity cannot be switched off silently."""

from __future__ import annotations

import gzip
import inspect
import json
import math
import time
import tracemalloc
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import advlab
from advlab.data import load_dataset, save_artifact
from advlab.data.idx import read_idx
from advlab.errors import AdvlabError
from advlab.models import KWARGS_SCHEMA, build_model, save_checkpoint
from advlab.models.checkpoint import UnverifiedWeightsWarning, load_checkpoint
from advlab.store import read_json, sha256_file

pytestmark = pytest.mark.usefixtures("one_thread")


def one_line(e: pytest.ExceptionInfo[AdvlabError]) -> str:
    msg = str(e.value)
    assert msg and "\n" not in msg and len(msg) < 600, msg
    return msg


# ---------------------------------------------------------------- read_json


@pytest.mark.parametrize("content, expected", [
    (b'{"a": "\xff\xfe"}', r"card\.json: not UTF-8 text"),
    (b"[" * 200_000 + b"]" * 200_000, r"card\.json: JSON nested too deep"),
    (b'{"n": ' + b"7" * 5000 + b"}", r"card\.json: not valid JSON \(.*digits"),
    (b'{"a": 1,', r"card\.json: not valid JSON"),
])
def test_read_json_refuses_hostile_text_naming_the_file(tmp_path: Path, content: bytes, expected: str) -> None:
    f = tmp_path / "card.json"
    f.write_bytes(content)
    with pytest.raises(AdvlabError, match=expected) as e:
        read_json(f)
    one_line(e)


def test_read_json_bounds_the_file_size_before_reading(tmp_path: Path) -> None:
    f = tmp_path / "big.json"
    f.write_bytes(b"[" + b"0," * 600_000 + b"0]")
    with pytest.raises(AdvlabError, match=r"big\.json: 1200003 bytes; a JSON file here holds at most 1000"):
        read_json(f, max_bytes=1000)
    assert len(read_json(f)) == 600_001
    with pytest.raises(AdvlabError, match="not a regular file|file not found"):
        read_json(tmp_path)


@pytest.mark.parametrize("call", [
    lambda p: read_json(p / "x.json"),
    lambda p: load_dataset(str(p / "x")),
    lambda p: advlab.load_model(p / "x"),
    lambda p: save_artifact(p / "x", torch.zeros(1, 1, 2, 2), torch.zeros(1), name="x"),
])
def test_file_names_longer_than_the_os_allows_are_clean_errors(tmp_path: Path, call: Any) -> None:
    with pytest.raises(AdvlabError, match="longer than the OS allows") as e:
        call(tmp_path / ("a" * 300))
    one_line(e)


# ---------------------------------------------------------------- dataset artifacts


def write_raw_artifact(folder: Path, tensors: dict[str, torch.Tensor], **card: Any) -> Path:
    """An artifact written WITHOUT save_artifact's checks, with a valid sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "data.safetensors"))
    x = tensors["x"]
    doc = {"format": "advlab-dataset/1", "name": "t", "shape": list(x.shape[1:]),
           "dtype": str(x.dtype).replace("torch.", ""), "n_train": int(x.shape[0]),
           "n_test": int(tensors["x_test"].shape[0]) if "x_test" in tensors else 0,
           "classes": [str(i) for i in range(3)], "value_range": [0.0, 1.0], "provenance": {},
           "sha256": sha256_file(folder / "data.safetensors")}
    doc.update(card)
    (folder / "card.json").write_text(json.dumps(doc))
    return folder


def good() -> dict[str, torch.Tensor]:
    return {"x": torch.rand(4, 1, 5, 5), "y": torch.tensor([0, 1, 2, 1])}


@pytest.mark.parametrize("change, expected", [
    ({"x": torch.full((4, 1, 5, 5), math.nan)}, "NaN or infinite"),
    ({"x": torch.full((4, 1, 5, 5), math.inf)}, "NaN or infinite"),
    ({"x": torch.full((4, 1, 5, 5), 1.5)}, r"from 1\.5 to 1\.5 leave the declared range \[0, 1\]"),
    ({"y": torch.tensor([0, -1, 2, 1])}, r"labels must lie in \[0, 3\).*from -1 to 2"),
    ({"y": torch.tensor([0, 2**40, 2, 1])}, r"labels must lie in \[0, 3\)"),
    ({"x": torch.rand(4, 5, 5)}, r"shape: got \[5, 5\]; expected a list of 3 items"),  # 3-D
    ({"x": torch.rand(4, 1, 1, 5, 5)}, r"shape: got \[1, 1, 5, 5\]; expected a list of 3 items"),  # 5-D
    ({"x": torch.rand(4, 1, 5, 5).double()}, r"tensor 'x' is F64 \[4, 1, 5, 5\] but card\.json implies F32"),
])
def test_artifact_breaking_the_contract_is_refused_on_load(tmp_path: Path, change: dict, expected: str) -> None:
    tensors = {**good(), **change}
    x = tensors["x"]
    card = {"shape": list(x.shape[1:])} if x.ndim >= 2 else {}
    if x.dtype == torch.float64:
        card["dtype"] = "float32"
    write_raw_artifact(tmp_path / "a", tensors, **card)
    with pytest.raises(AdvlabError) as e:
        load_dataset(str(tmp_path / "a"))
    assert any(s in one_line(e) for s in ("data.safetensors", "card.json")), str(e.value)
    assert e.match(expected)


def test_huge_label_builds_no_class_names(tmp_path: Path) -> None:
    write_raw_artifact(tmp_path / "a", {**good(), "y": torch.tensor([0, 2**40, 1, 1])})
    t = time.perf_counter()
    with pytest.raises(AdvlabError, match=r"labels must lie in \[0, 3\)"):
        advlab.data.describe(str(tmp_path / "a"))
    with pytest.raises(AdvlabError, match=r"y: got 1099511627776; expected labels in \[0, 100000\)"):
        save_artifact(tmp_path / "b", torch.rand(2, 1, 2, 2), torch.tensor([0, 2**40]), name="b")
    assert time.perf_counter() - t < 2 and not (tmp_path / "b").exists()


@pytest.mark.parametrize("field, value, expected", [
    ("classes", 5, r"classes: got 5; expected a list of 1 to 100000 items"),
    ("shape", None, r"shape: got None; expected a list of 3 items"),
    ("shape", [1, 5, "5"], r"shape\[2\]: got '5'; expected an integer"),
    ("n_train", True, r"n_train: got True; expected an integer"),
    ("n_train", 0, r"n_train: got 0; expected an integer in \[1, "),
    ("name", "x" * 5000, r"name: got 'x+\.\.\.; expected a string of at most 1000"),
    ("sha256", "zz", r"sha256: got 'zz'; expected 64 lowercase hex digits"),
    ("provenance", "made by hand", r"provenance: got 'made by hand'; expected an object"),
    ("value_range", [1.0, 0.0], r"value_range: got \[1.0, 0.0\]; expected \[low, high\] with low < high"),
])
def test_card_fields_of_the_wrong_type_are_refused(tmp_path: Path, field: str, value: Any, expected: str) -> None:
    write_raw_artifact(tmp_path / "a", good(), **{field: value})
    with pytest.raises(AdvlabError, match=r"card\.json: " + expected) as e:
        load_dataset(str(tmp_path / "a"))
    one_line(e)


def test_header_declaring_more_than_the_file_holds_is_refused(tmp_path: Path) -> None:
    folder = write_raw_artifact(tmp_path / "a", good())
    f = folder / "data.safetensors"
    blob = f.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    header["x"]["shape"] = [10**9, 1, 5, 5]
    header["x"]["data_offsets"][1] = header["x"]["data_offsets"][0] + 10**9 * 25 * 4
    raw = json.dumps(header).encode()
    f.write_bytes(len(raw).to_bytes(8, "little") + raw + blob[8 + n:])
    card = json.loads((folder / "card.json").read_text())
    card.update(n_train=10**9, sha256=sha256_file(f))
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(AdvlabError, match=r"data\.safetensors: .*(inconsistent|does not match|file holds)"):
        load_dataset(str(folder))


@pytest.mark.parametrize("x, y, expected", [
    (torch.full((2, 1, 2, 2), math.nan), torch.tensor([0, 1]), "NaN or infinite"),
    (torch.full((2, 1, 2, 2), 2.0), torch.tensor([0, 1]), "leave the declared range"),
    (torch.rand(2, 2, 2), torch.tensor([0, 1]), r"x must have shape \(N, C, H, W\)"),
    (torch.rand(0, 1, 2, 2), torch.zeros(0, dtype=torch.int64), "N >= 1"),
    (torch.rand(2, 1, 2, 2), torch.tensor([0, -3]), r"labels must lie in \[0, "),
    (torch.full((2, 1, 2, 2), 300, dtype=torch.int16), torch.tensor([0, 1]), "other integer types would wrap"),
    (torch.rand(2, 1, 2, 2), torch.tensor([0.0, 1.0]), "integer labels"),
    (torch.rand(2, 1, 2, 2).to_sparse(), torch.tensor([0, 1]), "dense real tensor"),
    (torch.rand(2, 1, 2, 2, dtype=torch.complex64), torch.tensor([0, 1]), "dense real tensor"),
])
def test_save_artifact_refuses_data_breaking_the_contract(tmp_path: Path, x: torch.Tensor, y: torch.Tensor,
                                                          expected: str) -> None:
    with pytest.raises(AdvlabError, match=expected) as e:
        save_artifact(tmp_path / "a", x, y, name="bad")
    one_line(e)
    assert not (tmp_path / "a").exists()  # nothing written


def test_save_artifact_checks_the_card_before_writing_anything(tmp_path: Path) -> None:
    with pytest.raises(AdvlabError, match=r"card: name: got 'x+\.\.\.; expected a string of at most 1000"):
        save_artifact(tmp_path / "a", torch.rand(1, 1, 2, 2), torch.tensor([0]), name="x" * 5000)
    with pytest.raises(AdvlabError, match=r"classes: got 3; expected a list"):
        save_artifact(tmp_path / "a", torch.rand(1, 1, 2, 2), torch.tensor([0]), name="a", classes=3)  # type: ignore[arg-type]
    assert not (tmp_path / "a").exists()


def test_quantising_refuses_what_the_clamp_would_hide(tmp_path: Path) -> None:
    with pytest.raises(AdvlabError, match="leave the declared range"):
        save_artifact(tmp_path / "a", torch.full((1, 1, 2, 2), -0.5), torch.tensor([0]), name="a", keep_float=False)


def test_declared_range_for_unclipped_synthetic_data(tmp_path: Path) -> None:
    x, y = torch.randn(5, 1, 1, 6) * 3, torch.tensor([0, 1, 0, 1, 1])
    save_artifact(tmp_path / "s", x, y, name="synthetic", value_range=None)
    assert json.loads((tmp_path / "s" / "card.json").read_text())["value_range"] is None
    assert torch.equal(load_dataset(str(tmp_path / "s"))[0], x)
    with pytest.raises(AdvlabError, match="NaN or infinite"):  # unbounded still means finite
        save_artifact(tmp_path / "t", torch.full((1, 1, 1, 2), math.inf), y[:1], name="s", value_range=None)
    save_artifact(tmp_path / "r", x.clamp(-10, 10), y, name="r", value_range=(-10, 10))
    with pytest.raises(AdvlabError, match=r"declared range \[-1, 1\]"):
        save_artifact(tmp_path / "q", x * 100, y, name="q", value_range=(-1, 1))


def test_export_carries_the_declared_range_and_refuses_bad_out(tmp_path: Path) -> None:
    from advlab.data import export_dataset

    x, y = torch.randn(4, 1, 1, 3) * 4, torch.tensor([0, 1, 1, 0])
    save_artifact(tmp_path / "syn", x, y, name="syn", value_range=None, x_test=x[:2], y_test=y[:2])
    got = export_dataset(str(tmp_path / "syn") + "[1:3]", tmp_path / "out")
    assert got["n_train"] == 2 and got["n_test"] == 1  # the slice applies to each split
    assert json.loads((tmp_path / "out" / "card.json").read_text())["value_range"] is None
    assert torch.equal(load_dataset(str(tmp_path / "out"))[0], x[1:3])
    (tmp_path / "file").write_text("x")
    with pytest.raises(AdvlabError, match="out: got .*file'; expected a folder; it is an existing file"):
        export_dataset("digits[:4]", tmp_path / "file")
    with pytest.raises(AdvlabError, match="already holds an artifact"):
        export_dataset("digits[:4]", tmp_path / "out")
    assert export_dataset("digits[:4]", tmp_path / "out", force=True)["dtype"] == "float32"


def test_legacy_synthetic_card_without_value_range_still_loads(tmp_path: Path) -> None:
    tensors = {"x": torch.randn(3, 1, 1, 4) * 2, "y": torch.tensor([0, 1, 1])}
    prov = {"constructor": "advlab.bayes.synthetic.SyntheticPair.save_dataset"}
    folder = write_raw_artifact(tmp_path / "old", tensors, provenance=prov)
    card = json.loads((folder / "card.json").read_text())
    del card["value_range"]
    (folder / "card.json").write_text(json.dumps(card))
    assert torch.equal(load_dataset(str(folder))[0], tensors["x"])
    card["provenance"] = {}  # any other legacy card means [0, 1]
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(AdvlabError, match=r"declared range \[0, 1\]"):
        load_dataset(str(folder))


# ---------------------------------------------------------------- checkpoints


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    return save_checkpoint(tmp_path / "ck", build_model("mlp", in_shape=(1, 4, 4), num_classes=3, hidden=[5]))


def edit_config(folder: Path, fn: Any) -> None:
    doc = json.loads((folder / "config.json").read_text())
    fn(doc)
    (folder / "config.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("hashless", ["missing", "null"])
def test_checkpoint_without_hash_is_refused_unless_trusted(ckpt: Path, hashless: str) -> None:
    f = ckpt / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[-3] ^= 0xFF  # corrupted weights, as in the issue
    f.write_bytes(bytes(data))
    edit_config(ckpt, lambda d: d.pop("weights_sha256") if hashless == "missing" else d.update(weights_sha256=None))
    with pytest.raises(AdvlabError, match=r"config\.json: has no weights_sha256.*refused.*trust_unverified=True") as e:
        advlab.load_model(ckpt)
    one_line(e)
    with pytest.warns(UnverifiedWeightsWarning, match="loaded WITHOUT verification"):
        model = advlab.load_model(ckpt, trust_unverified=True)
    assert not model.training


def test_trusted_checkpoint_with_a_hash_still_verifies_it(ckpt: Path) -> None:
    f = ckpt / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[-3] ^= 0xFF
    f.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AdvlabError, match="corrupted"):
            load_checkpoint(ckpt, trust_unverified=True)  # the flag only covers a missing hash


@pytest.mark.parametrize("edit, expected", [
    (lambda m: m["kwargs"].update(hidden=[10**9]), r"model\.kwargs\.hidden\[0\]: got 1000000000; expected an integer in \[1, 16777216\]"),
    (lambda m: m.update(arch="cnn", kwargs={"width": 300000}), r"model\.kwargs\.width: got 300000; expected an integer in \[1, 65536\]"),
    (lambda m: m["kwargs"].update(hidden=[2**24, 2**24]), r"model: mlp with .* has 281,475,[\d,]+ parameters and buffers, more than the limit of 300,000,000"),
    (lambda m: m.update(in_shape=[1e9, 1, 1]), r"model\.in_shape\[0\]: got 1000000000\.0; expected an integer"),
    (lambda m: m.update(in_shape=[10**9, 1, 1]), r"model\.in_shape\[0\]: got 1000000000; expected an integer in \[1, 16384\]"),
    (lambda m: m.update(in_shape=["1", None, 4]), r"model\.in_shape\[0\]: got '1'; expected an integer"),
    (lambda m: m.update(kwargs="hidden=5"), r"model\.kwargs: got 'hidden=5'; expected an object"),
    (lambda m: m.update(arch={"a": 1}), r"model\.arch: got \{'a': 1\}; expected one of 'cnn'"),
    (lambda m: m.update(num_classes=2**40), r"model\.num_classes: got 1099511627776; expected an integer in \[2, 100000\]"),
    (lambda m: m["kwargs"].update(hidden=[-1]), r"model\.kwargs\.hidden\[0\]: got -1"),
    (lambda m: m["kwargs"].update(depth=3), r"model\.kwargs\.depth: got an unknown field"),
    (lambda m: m["kwargs"].update(std=[0.0]), r"model\.kwargs\.std: got \[0\.0\]; expected a finite number > 0"),
])
def test_hostile_model_configs_are_refused_before_allocating(ckpt: Path, edit: Any, expected: str) -> None:
    edit_config(ckpt, lambda d: edit(d["model"]))
    t = time.perf_counter()
    with pytest.raises(AdvlabError, match=expected) as e:
        advlab.load_model(ckpt)
    assert "config.json" in one_line(e)
    assert time.perf_counter() - t < 5  # refused on the meta device, not after allocating


def test_model_size_bound_is_overridable(ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AdvlabError, match=r"config\.json: model: mlp with \{'hidden': \[5\]\} on inputs \(1, 4, 4\) has 105 parameters and buffers, more than the limit of 50 "):
        advlab.load_model(ckpt, max_params=50)
    monkeypatch.setenv("ADVLAB_MAX_PARAMS", "50")
    with pytest.raises(AdvlabError, match="more than the limit of 50"):
        build_model("mlp", in_shape=(1, 4, 4), num_classes=3, hidden=[5])
    monkeypatch.setenv("ADVLAB_MAX_PARAMS", "105")
    assert advlab.load_model(ckpt) is not None
    with pytest.raises(AdvlabError, match=r"--model-kwargs: hidden\[0\]: got 1000000000; expected an integer in"):
        build_model("mlp", in_shape=(1, 28, 28), num_classes=10, hidden=[10**9])
    with pytest.raises(AdvlabError, match=r"--model-kwargs: mlp .* has 795,000,012 parameters and buffers, more than the limit of 1,000,000"):
        build_model("mlp", in_shape=(1, 28, 28), num_classes=10, hidden=[10**6], max_params=10**6)


def test_header_must_declare_exactly_the_architecture(ckpt: Path) -> None:
    model = build_model("mlp", in_shape=(1, 4, 4), num_classes=3, hidden=[5])
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["extra"] = torch.zeros(10)
    save_file(state, str(ckpt / "model.safetensors"))
    edit_config(ckpt, lambda d: d.update(weights_sha256=sha256_file(ckpt / "model.safetensors")))
    with pytest.raises(AdvlabError, match=r"model\.safetensors: tensors do not match the architecture in config\.json \(unexpected \['extra'\]\)"):
        advlab.load_model(ckpt)


def test_kwargs_schema_declares_exactly_each_constructor(tmp_path: Path) -> None:
    from advlab.models import _REGISTRY, _factory

    for arch in _REGISTRY:
        cls, fixed = _factory(arch)
        params = set(inspect.signature(cls.__init__).parameters) - {"self", "in_shape", "num_classes"} - set(fixed)
        assert set(KWARGS_SCHEMA[arch].fields) == params, arch


def test_sizing_on_meta_keeps_the_random_stream() -> None:
    from advlab.models.small import SmallCNN

    torch.manual_seed(3)
    ours = build_model("cnn", in_shape=(1, 8, 8), num_classes=3, width=4, hidden=8)
    torch.manual_seed(3)
    plain = SmallCNN((1, 8, 8), 3, width=4, hidden=8)
    for a, b in zip(ours.state_dict().values(), plain.state_dict().values(), strict=True):
        assert torch.equal(a, b)


# ---------------------------------------------------------------- IDX


def idx_header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


def test_gz_bomb_is_refused_after_at_most_what_the_header_says(tmp_path: Path) -> None:
    f = tmp_path / "train-images-idx3-ubyte.gz"
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    with open(f, "wb") as out:
        out.write(comp.compress(idx_header(8, (10, 28, 28))))
        zeros = bytes(1 << 20)
        for _ in range(200):  # 200 MiB of zeros in ~200 kB
            out.write(comp.compress(zeros))
        out.write(comp.flush())
    assert f.stat().st_size < 1 << 20
    tracemalloc.start()
    t = time.perf_counter()
    try:
        with pytest.raises(AdvlabError, match="longer than its header says"):
            read_idx(f, (8, 3))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20 and time.perf_counter() - t < 5  # 7,840 bytes + one chunk, not 200 MiB


def test_gz_header_claiming_more_than_deflate_can_hold_is_refused_at_once(tmp_path: Path) -> None:
    f = tmp_path / "x.gz"
    f.write_bytes(gzip.compress(idx_header(8, (60000, 280, 280)) + bytes(100)))
    with pytest.raises(AdvlabError, match=r"header says dims \(60000, 280, 280\) .*more than this file can hold"):
        read_idx(f)


@pytest.mark.parametrize("code, dims, payload, expected", [
    (0x0D, (2, 2, 2), 32, "type 0x0D with 3 dims; expected type 0x08"),  # float images
    (0x0B, (2, 2, 2), 16, "type 0x0B with 3 dims; expected type 0x08"),  # int16 would wrap
    (0x08, (0, 28, 28), 0, "0 items"),
    (0x08, (2**32 - 1, 2**32 - 1, 2**32 - 1), 8, "more than this file can hold"),
    (0x08, (2, 2), 4, "with 2 dims; expected type 0x08 .* with 3 dims"),
])
def test_idx_images_outside_the_format_are_refused(tmp_path: Path, code: int, dims: tuple[int, ...],
                                                   payload: int, expected: str) -> None:
    f = tmp_path / "img"
    f.write_bytes(idx_header(code, dims) + bytes(payload))
    with pytest.raises(AdvlabError, match=expected) as e:
        read_idx(f, (8, 3))
    assert str(f) in one_line(e)


# ---------------------------------------------------------------- released folders


@pytest.mark.parametrize("ims, lab, expected", [
    (torch.rand(2, 3, 32, 32).to_sparse(), torch.tensor([0, 1]), "dense real tensor"),
    (torch.rand(2, 3, 32, 32, dtype=torch.complex64), torch.tensor([0, 1]), "dense real tensor"),
    (torch.full((2, 3, 32, 32), math.nan), torch.tensor([0, 1]), "NaN or infinite"),
    (torch.rand(2, 3, 32, 32), torch.tensor([0, 1]).to_sparse(), "dense real tensor"),
    (torch.rand(2, 3, 32, 32), torch.tensor([0.5, 1.0]), "expected integer labels"),
    (torch.rand(2, 3, 32, 32), torch.tensor([0, 10]), "expected integer labels in 0..9"),
    (torch.rand(2, 3, 28, 28), torch.tensor([0, 1]), r"expected \(N, 3, 32, 32\)"),
    (torch.rand(1, 3, 32, 32).expand(10**6, 3, 32, 32), torch.zeros(10**6, dtype=torch.int64), "contiguous"),
    (torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8), torch.tensor([0, 1]), "expected float images"),
    (torch.rand(2, 3, 32, 32), torch.tensor([0]), r"expected \(2,\) labels"),
])
def test_released_folder_accepts_only_dense_real_documented_tensors(
        tmp_path: Path, ims: torch.Tensor, lab: torch.Tensor, expected: str) -> None:
    torch.save(ims, tmp_path / "CIFAR_ims")
    torch.save(lab, tmp_path / "CIFAR_lab")
    with pytest.raises(AdvlabError, match=expected) as e:
        load_dataset(str(tmp_path))
    assert "CIFAR_" in one_line(e)


def test_released_folder_loads_float64_and_int32_as_the_contract_types(tmp_path: Path) -> None:
    ims = torch.rand(3, 3, 32, 32, dtype=torch.float64)
    torch.save(ims, tmp_path / "CIFAR_ims")
    torch.save(torch.tensor([1, 2, 9], dtype=torch.int32), tmp_path / "CIFAR_lab")
    x, y = load_dataset(str(tmp_path))
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and torch.equal(x, ims.float())
    assert y.tolist() == [1, 2, 9] and np.isfinite(x.numpy()).all()
