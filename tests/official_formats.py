"""Tiny datasets in the official on-disk formats, written by the tests (no download).

* CIFAR-10, binary version: ``cifar-10-batches-bin/`` with 3,073-byte records.
* CelebA: ``celeba/img_align_celeba/*.jpg`` (178 x 218) and the five official list files.
* Restricted ImageNet: an ImageNet ``ImageFolder`` tree with the 1,000 wnid folders.

Imported by the test modules (pytest puts ``tests/`` on the path); not a test itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from advlab.data.celeba import ATTRIBUTES
from advlab.data.cifar import FOLDER, META_FILE, TEST_FILES, TRAIN_FILES
from advlab.data.real import CIFAR10_CLASSES


def cifar_records(images: np.ndarray, labels: np.ndarray) -> bytes:
    """Records of the binary version: label byte + R, G, B planes (row-major) per image.

    Args:
        images: uint8 (n, 3, 32, 32); labels: (n,) in 0..9.
    """
    flat = images.reshape(len(images), -1).astype(np.uint8)
    return np.concatenate([labels.astype(np.uint8)[:, None], flat], axis=1).tobytes()


def write_cifar10(root: Path, per_batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``root/cifar-10-batches-bin/``: five train batches and the test batch of
    ``per_batch`` random images each, and ``batches.meta.txt``.

    Images are smooth random colour fields (a 4 x 4 grid upsampled), so a class mean
    shift makes them learnable; labels cycle through the ten classes.

    Returns:
        (images uint8 (6 * per_batch, 3, 32, 32), labels (6 * per_batch,)), train
        batches first, then the test batch.
    """
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = 6 * per_batch
    labels = (np.arange(n) + rng.integers(0, 10)) % 10
    coarse = rng.normal(0.0, 40.0, (n, 3, 4, 4)) + 128 + 6.0 * (labels[:, None, None, None] - 4.5)
    images = np.clip(np.kron(coarse, np.ones((8, 8))), 0, 255).astype(np.uint8)
    for i, name in enumerate([*TRAIN_FILES, *TEST_FILES]):
        part = slice(i * per_batch, (i + 1) * per_batch)
        (folder / name).write_bytes(cifar_records(images[part], labels[part]))
    (folder / META_FILE).write_text("\n".join(CIFAR10_CLASSES) + "\n\n")
    return images, labels


def write_celeba(root: Path, partitions: list[int], seed: int = 3,
                 present: dict[str, list[int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``root/celeba/``: img_align_celeba/*.jpg (178 x 218 faces-sized colour images) and
    the five official list files.

    Args:
        partitions: the partition (0 train, 1 valid, 2 test) of each image.
        present: attribute -> the 0/1 value of each image (others are random).

    Returns:
        (colours (n, 3) of the images, attribute values in {-1, 1} (n, 40)).
    """
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    n = len(partitions)
    rng = np.random.default_rng(seed)
    attrs = rng.choice([-1, 1], (n, len(ATTRIBUTES)))
    for name, values in (present or {}).items():
        attrs[:, ATTRIBUTES.index(name)] = [1 if v else -1 for v in values]
    colours = rng.integers(20, 236, (n, 3))
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    for k, (name, c) in enumerate(zip(names, colours, strict=True)):
        img = np.empty((218, 178, 3), dtype=np.uint8)
        img[:] = c
        if attrs[k, ATTRIBUTES.index("Male")] > 0:  # a visible cue for the Male attribute
            img[60:160, 40:140] = 255 - c
        Image.fromarray(img).save(folder / "img_align_celeba" / name)

    def rows(vals: list[list[int]] | np.ndarray) -> str:
        return "".join(f"{nm} {' '.join(f'{v:2d}' for v in r)}\n" for nm, r in zip(names, vals, strict=True))

    (folder / "list_attr_celeba.txt").write_text(f"{n}\n{' '.join(ATTRIBUTES)} \n" + rows(attrs))
    (folder / "identity_CelebA.txt").write_text(rows([[i] for i in range(n)]))
    (folder / "list_bbox_celeba.txt").write_text(
        f"{n}\nimage_id x_1 y_1 width height\n" + rows([[0, 0, 178, 218]] * n))
    marks = ("lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y "
             "rightmouth_x rightmouth_y")
    (folder / "list_landmarks_align_celeba.txt").write_text(f"{n}\n{marks}\n" + rows([[50] * 10] * n))
    (folder / "list_eval_partition.txt").write_text(rows([[p] for p in partitions]))
    return colours, attrs


def write_imagenet(root: Path, per_class: dict[int, int], size: tuple[int, int] = (40, 36)) -> None:
    """``root/imagenet/{train,val}/<wnid>/*.JPEG``: the 1,000 wnid folders (sorted names
    give class indices 0..999), ``per_class[k]`` tiny JPEGs in folder k, none elsewhere."""
    for split in ("train", "val"):
        for k in range(1000):
            d = root / "imagenet" / split / f"n{k:08d}"
            d.mkdir(parents=True)
            for j in range(per_class.get(k, 0)):
                colour = (k % 256, (j * 40) % 256, 90 if split == "train" else 150)
                Image.new("RGB", size, colour).save(d / f"img_{j}.JPEG")
