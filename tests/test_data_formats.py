"""Each real-data loader on tiny files the test writes in the dataset's official format."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets.celeba as tv_celeba
from PIL import Image

from advlab.data import load_dataset, open_source
from advlab.data.celeba import ATTRIBUTES
from advlab.data.idx import _decode_pair, parse_idx
from advlab.errors import AdvlabError


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADVLAB_NO_DOWNLOAD", "1")
    monkeypatch.delenv("ADVLAB_DATA", raising=False)


def _exists_only(path: str, md5: str | None = None) -> bool:
    return os.path.isfile(path)


def idx_bytes(a: np.ndarray) -> bytes:
    """An IDX file (unsigned bytes): magic 0 0 8 ndim, big-endian dims, data."""
    head = bytes([0, 0, 8, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    return head + a.astype(np.uint8).tobytes()


def rand_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n, dtype=np.uint8) % 10


def write_idx_split(folder: Path, prefix: str, x: np.ndarray, y: np.ndarray, gz: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for kind, arr, d in (("images", x, 3), ("labels", y, 1)):
        data, name = idx_bytes(arr), f"{prefix}-{kind}-idx{d}-ubyte"
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


# ---------------------------------------------------------------- IDX / fashion / mnist


def test_parse_idx_reads_dims_and_values_and_refuses_truncation() -> None:
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(parse_idx(idx_bytes(a)), a)
    with pytest.raises(AdvlabError, match="f.idx: truncated"):
        parse_idx(idx_bytes(a)[:-1], "f.idx")
    with pytest.raises(AdvlabError, match="bad magic"):
        parse_idx(b"\x01\x02\x08\x01" + bytes(8), "f.idx")


@pytest.fixture
def fashion_root(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    x, y = rand_digits(30, 0)
    write_idx_split(tmp_path / "fashion-mnist", "train", x, y, gz=True)
    write_idx_split(tmp_path / "fashion-mnist", "t10k", x[:10], y[:10], gz=True)
    return tmp_path, x, y


def test_fashion_mnist_from_gz_idx_files_and_cached(fashion_root: tuple[Path, np.ndarray, np.ndarray]) -> None:
    root, x, y = fashion_root
    xt, yt = load_dataset("fashion-mnist", "train", data_root=root)
    assert xt.shape == (30, 1, 28, 28) and xt.dtype == torch.float32 and yt.dtype == torch.int64
    torch.testing.assert_close(xt, torch.from_numpy(x)[:, None].float() / 255, rtol=0, atol=0)
    assert yt.tolist() == y.tolist()
    assert load_dataset("fashion-mnist", "test", data_root=root)[0].shape[0] == 10
    hits = _decode_pair.cache_info().hits
    load_dataset("fashion-mnist:0-6[:2]", "train", data_root=root)
    assert _decode_pair.cache_info().hits == hits + 1  # decoded once, served from memory


def test_fashion_mnist_via_env_and_missing_root(
    fashion_root: tuple[Path, np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ADVLAB_DATA", str(fashion_root[0]))
    assert load_dataset("fashion-mnist")[0].shape[0] == 30
    (tmp_path / "empty").mkdir()
    with pytest.raises(AdvlabError, match="--data-root: no Fashion-MNIST"):
        load_dataset("fashion-mnist", data_root=tmp_path / "empty")


def test_truncated_fashion_file_names_the_file(fashion_root: tuple[Path, np.ndarray, np.ndarray]) -> None:
    root = fashion_root[0]
    f = root / "fashion-mnist" / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-40])
    with pytest.raises(AdvlabError, match="train-images-idx3-ubyte.gz: truncated"):
        load_dataset("fashion-mnist", data_root=root)


def test_mnist_through_torchvision_raw_layout(tmp_path: Path) -> None:
    x, y = rand_digits(20, 1)
    write_idx_split(tmp_path / "MNIST" / "raw", "train", x, y, gz=False)
    write_idx_split(tmp_path / "MNIST" / "raw", "t10k", x[:5], y[:5], gz=False)
    xt, yt = load_dataset("mnist:2-7", "train", data_root=tmp_path)
    keep = (y == 2) | (y == 7)
    torch.testing.assert_close(xt, torch.from_numpy(x[keep])[:, None].float() / 255, rtol=0, atol=0)
    assert yt.tolist() == (y[keep] == 7).astype(int).tolist()
    assert load_dataset("mnist", "test", data_root=tmp_path)[1].tolist() == y[:5].tolist()


def test_missing_data_root_and_failed_download_leave_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(AdvlabError, match="--data-root: mnist needs a data root"):
        load_dataset("mnist")
    monkeypatch.delenv("ADVLAB_NO_DOWNLOAD")

    def offline_download(self: object) -> None:
        (tmp_path / "MNIST" / "raw").mkdir(parents=True)
        raise OSError("no route to host")

    monkeypatch.setattr("torchvision.datasets.MNIST.download", offline_download)
    with pytest.raises(AdvlabError, match=r"^--data-root: no MNIST found under .*download failed \(OSError: no route"):
        load_dataset("mnist", data_root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_truncated_mnist_raw_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    x, y = rand_digits(5, 1)
    raw = tmp_path / "MNIST" / "raw"
    write_idx_split(raw, "train", x, y, gz=False)
    write_idx_split(raw, "t10k", x, y, gz=False)
    f = raw / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(AdvlabError, match=f"^{raw}/train-images-idx3-ubyte: truncated: header says"):
        load_dataset("mnist", data_root=tmp_path)  # the header is checked before torchvision reads


# ---------------------------------------------------------------- CIFAR-10


def test_cifar10_python_version_is_never_read(tmp_path: Path) -> None:
    """Only the pickled python batches are present: one line that asks for the binary
    version (the binary reader itself is tested in test_full_presets.py)."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(pickle.dumps({"data": b"", "labels": []}))
    with pytest.raises(AdvlabError, match="is the Python version, whose batches are pickles "
                                          "that advlab never reads; download the binary version"):
        load_dataset("cifar10", data_root=tmp_path)


# ---------------------------------------------------------------- CelebA


def write_celeba(root: Path, partitions: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """img_align_celeba/*.jpg (178x218 solid colours) and the five official list files."""
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    n = len(partitions)
    rng = np.random.default_rng(3)
    colours = rng.integers(20, 236, (n, 3))
    attrs = rng.choice([-1, 1], (n, len(ATTRIBUTES)))
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    for name, c in zip(names, colours, strict=True):
        Image.new("RGB", (178, 218), tuple(int(v) for v in c)).save(folder / "img_align_celeba" / name)
    rows = lambda vals: "".join(f"{nm} {' '.join(str(v) for v in r)}\n" for nm, r in zip(names, vals, strict=True))  # noqa: E731
    (folder / "list_attr_celeba.txt").write_text(f"{n}\n{' '.join(ATTRIBUTES)} \n" + rows(attrs))
    (folder / "identity_CelebA.txt").write_text(rows([[i] for i in range(n)]))
    (folder / "list_bbox_celeba.txt").write_text(f"{n}\nimage_id x_1 y_1 width height\n" + rows([[0, 0, 178, 218]] * n))
    marks = "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y"
    (folder / "list_landmarks_align_celeba.txt").write_text(f"{n}\n{marks}\n" + rows([[50] * 10] * n))
    (folder / "list_eval_partition.txt").write_text(rows([[p] for p in partitions]))
    return colours, attrs


def test_celeba_attribute_label_and_64px_crop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    partitions = [0, 0, 1, 2, 0, 2, 0]
    colours, attrs = write_celeba(tmp_path, partitions)
    monkeypatch.setattr(tv_celeba, "check_integrity", _exists_only)
    male = ATTRIBUTES.index("Male")
    train = [i for i, p in enumerate(partitions) if p == 0]
    x, y = load_dataset("celeba:male", "train", data_root=tmp_path)
    assert x.shape == (len(train), 3, 64, 64) and y.tolist() == [int(attrs[i, male] > 0) for i in train]
    mean_colour = x.mean(dim=(2, 3)) * 255
    torch.testing.assert_close(mean_colour, torch.tensor(colours[train], dtype=torch.float32), rtol=0, atol=4.0)
    src = open_source("celeba:Smiling[:1]", "test", data_root=tmp_path)
    assert len(src) == 1 and src.classes == ["not Smiling", "Smiling"]
    with pytest.raises(AdvlabError, match="needs an attribute"):
        load_dataset("celeba", data_root=tmp_path)


# ---------------------------------------------------------------- restricted ImageNet


def write_imagenet(root: Path, per_class: dict[int, int], n_folders: int = 1000) -> None:
    for split in ("train", "val"):
        for k in range(n_folders):
            d = root / "imagenet" / split / f"n{k:08d}"
            d.mkdir(parents=True)
            for j in range(per_class.get(k, 0)):
                Image.new("RGB", (300, 260), (k % 256, j * 40, 90)).save(d / f"img_{j}.JPEG")


def test_restricted_imagenet_ranges_of_table_2(tmp_path: Path) -> None:
    # 151 dog (class 0), 30 frog (2), 319 insect (8, last of its range), 500 and 29 excluded
    write_imagenet(tmp_path, {151: 2, 30: 1, 319: 1, 500: 2, 29: 1})
    x, y = load_dataset("restricted-imagenet", "train", data_root=tmp_path)
    assert x.shape == (4, 3, 224, 224) and sorted(y.tolist()) == [0, 0, 2, 8]
    assert load_dataset("restricted-imagenet[:1]", "test", data_root=tmp_path)[0].shape[0] == 1


def test_restricted_imagenet_needs_1000_wnid_folders(tmp_path: Path) -> None:
    write_imagenet(tmp_path, {151: 1}, n_folders=200)
    with pytest.raises(AdvlabError, match="has 200 class folders; expected the 1,000"):
        load_dataset("restricted-imagenet", data_root=tmp_path)


# ---------------------------------------------------------------- released features-paper sets


def test_released_cifar_set_list_of_tensors(tmp_path: Path) -> None:
    ims = [torch.rand(3, 3, 32, 32), torch.rand(2, 3, 32, 32)]
    lab = torch.tensor([0, 1, 2, 3, 9])
    torch.save(ims, tmp_path / "CIFAR_ims")
    torch.save(lab, tmp_path / "CIFAR_lab")
    x, y = load_dataset(str(tmp_path))
    torch.testing.assert_close(x, torch.cat(ims), rtol=0, atol=0)
    assert y.tolist() == lab.tolist()
    assert load_dataset(f"{tmp_path}:0-9")[1].tolist() == [0, 1]
    with pytest.raises(AdvlabError, match="split: got 'test'.*train split only"):
        load_dataset(str(tmp_path), "test")
    from advlab.cli import main

    with pytest.raises(SystemExit) as e:
        main(["datasets", "export", str(tmp_path), "--out", str(tmp_path / "art")])
    assert e.value.code == 0
    xa, ya = load_dataset(str(tmp_path / "art"))
    assert torch.equal(xa, x) and torch.equal(ya, y) and xa.dtype == torch.float32


class _Bomb:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_pickle_bomb_as_cifar_ims_is_refused_without_running(tmp_path: Path, writer: str) -> None:
    marker = tmp_path / "marker"
    folder = tmp_path / "released"
    folder.mkdir()
    bomb = _Bomb(marker)
    if writer == "pickle":
        (folder / "CIFAR_ims").write_bytes(pickle.dumps(bomb))
    else:
        torch.save({"x": bomb}, folder / "CIFAR_ims")
    torch.save(torch.zeros(1, dtype=torch.int64), folder / "CIFAR_lab")
    assert not marker.exists()
    with pytest.raises(AdvlabError, match=r"CIFAR_ims: refused"):
        load_dataset(str(folder))
    assert not marker.exists()
