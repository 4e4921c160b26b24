"""The CIFAR-10 binary reader and advlab's own CelebA list parser, on tiny files in the
official formats, checked against torchvision reading the same data."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets.celeba as tv_celeba
import torchvision.datasets.cifar as tv_cifar

from advlab.data import load_dataset
from advlab.data.celeba import ATTRIBUTES
from advlab.data.cifar import FOLDER, META_FILE
from advlab.errors import AdvlabError
from official_formats import cifar_records, write_celeba, write_cifar10


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADVLAB_NO_DOWNLOAD", "1")
    monkeypatch.delenv("ADVLAB_DATA", raising=False)


def _exists_only(path: str, md5: str | None = None) -> bool:
    return os.path.isfile(path)


def test_cifar10_binary_record_layout(tmp_path: Path) -> None:
    """Label byte, then the R, G and B planes, each row-major (the format's definition)."""
    images, labels = write_cifar10(tmp_path, 3)
    rows, cols = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    images[0, 0], images[0, 1], images[0, 2] = rows, cols, 7
    (tmp_path / FOLDER / "data_batch_1.bin").write_bytes(cifar_records(images[:3], labels[:3]))
    x, y = load_dataset("cifar10", "train", data_root=tmp_path)
    assert x.shape == (15, 3, 32, 32) and y.tolist() == labels[:15].tolist()
    assert (x[0, 0] * 255).round().tolist() == rows.tolist()
    assert (x[0, 1] * 255).round().tolist() == cols.tolist() and bool((x[0, 2] * 255).round().eq(7).all())
    xt, yt = load_dataset("cifar10[1:3]", "test", data_root=tmp_path)
    assert yt.tolist() == labels[16:18].tolist()
    torch.testing.assert_close(xt, torch.from_numpy(images[16:18]).float() / 255, rtol=0, atol=0)


def test_cifar10_binary_equals_torchvision_on_the_python_version(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The same images written in both official versions: advlab's binary reader returns
    what torchvision returns from the pickled batches (md5 check off for tiny files)."""
    images, labels = write_cifar10(tmp_path, 4, seed=5)
    py = tmp_path / "cifar-10-batches-py"
    py.mkdir()
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        part = slice(4 * i, 4 * i + 4)
        batch = {"data": images[part].reshape(4, -1), "labels": labels[part].tolist()}
        (py / name).write_bytes(pickle.dumps(batch))  # test-only: torchvision's input format
    (py / "batches.meta").write_bytes(pickle.dumps({"label_names": list(range(10))}))
    monkeypatch.setattr(tv_cifar, "check_integrity", _exists_only)
    for split in ("train", "test"):
        ref = tv_cifar.CIFAR10(str(tmp_path), train=split == "train")
        x, y = load_dataset("cifar10", split, data_root=tmp_path)
        expected = torch.from_numpy(ref.data.transpose(0, 3, 1, 2).copy()).float() / 255
        torch.testing.assert_close(x, expected, rtol=0, atol=0)
        assert y.tolist() == list(ref.targets)


@pytest.mark.parametrize("damage, message", [
    ("truncate", "is not a whole number of CIFAR-10 records"),
    ("label", "has label 10; CIFAR-10 labels are 0..9"),
    ("meta", "expected CIFAR-10's classes"),
    ("missing", "no CIFAR-10 binary version"),
])
def test_cifar10_binary_refusals(tmp_path: Path, damage: str, message: str) -> None:
    write_cifar10(tmp_path, 2)
    folder = tmp_path / FOLDER
    batch = folder / "data_batch_3.bin"
    if damage == "truncate":
        batch.write_bytes(batch.read_bytes()[:-5])
    elif damage == "label":
        data = bytearray(batch.read_bytes())
        data[3073] = 10  # the second record's label byte
        batch.write_bytes(bytes(data))
    elif damage == "meta":
        (folder / META_FILE).write_text("cat\ndog\n")
    else:
        (folder / "test_batch.bin").unlink()
    with pytest.raises(AdvlabError, match=message):
        load_dataset("cifar10", "train", data_root=tmp_path)


def test_celeba_lists_parsed_as_torchvision_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """advlab's parser of the two list files agrees with torchvision's CelebA (md5 off)."""
    partitions = [0, 2, 0, 1, 2, 0, 0, 2]
    write_celeba(tmp_path, partitions)
    monkeypatch.setattr(tv_celeba, "check_integrity", _exists_only)
    for split, part in (("train", "train"), ("test", "test")):
        ref = tv_celeba.CelebA(str(tmp_path), split=part)
        for attribute in ("Male", "Smiling", "Young"):
            _, y = load_dataset(f"celeba:{attribute}", split, data_root=tmp_path)
            assert y.tolist() == ref.attr[:, ATTRIBUTES.index(attribute)].tolist()
        assert len(y) == sum(p == {"train": 0, "test": 2}[split] for p in partitions)


@pytest.mark.parametrize("damage, message", [
    ("traversal", "line 3 names '../x.jpg'; expected a file name"),
    ("value", "line 4 is not a file name and 40 values -1 / 1"),
    ("count", "line 1 announces 5 images but 4 lines follow"),
    ("order", "the same images, in the same order"),
    ("names", "expected CelebA's 40"),
])
def test_celeba_list_refusals(tmp_path: Path, damage: str, message: str) -> None:
    write_celeba(tmp_path, [0, 0, 2, 0])
    folder = tmp_path / "celeba"
    attr = folder / "list_attr_celeba.txt"
    lines = attr.read_text().splitlines()
    if damage == "traversal":
        lines[2] = "../x.jpg" + lines[2][len("000001.jpg"):]
    elif damage == "value":
        lines[3] = lines[3].replace(" 1", " 0", 1).replace("-1", " 0", 1)
    elif damage == "count":
        lines[0] = "5"
    elif damage == "order":
        part = folder / "list_eval_partition.txt"
        rows = part.read_text().splitlines()
        part.write_text("\n".join([rows[1], rows[0], *rows[2:]]) + "\n")
    else:
        lines[1] = lines[1].replace("Male", "Female")
    attr.write_text("\n".join(lines) + "\n")
    with pytest.raises(AdvlabError, match=message):
        load_dataset("celeba:Male", "train", data_root=tmp_path)
