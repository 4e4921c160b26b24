"""CelebA through torchvision, one attribute as the binary label (``celeba:Male``).

Layout (torchvision's): ``<root>/celeba/img_align_celeba/*.jpg`` and the text files
``list_attr_celeba.txt``, ``identity_CelebA.txt``, ``list_bbox_celeba.txt``,
``list_landmarks_align_celeba.txt``, ``list_eval_partition.txt`` (torchvision checks
their official md5). Splits: ``train`` = partition 0 (162,770 images), ``test`` =
partition 2 (19,962); the validation partition is not used.

Images (178 x 218 aligned faces) are resized so the short side is 64 (bilinear, with
antialiasing) and center-cropped to 64 x 64, as in the DCGAN preprocessing: RGB, shape
3 x 64 x 64, uint8. Labels: 1 where the attribute is present, 0 where it is absent.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch
from tqdm import tqdm

from advlab.data.real import fetch_or_explain, require_root
from advlab.data.source import Source
from advlab.errors import AdvlabError

SIZE = 64
FILES = [
    "list_attr_celeba.txt", "identity_CelebA.txt", "list_bbox_celeba.txt",
    "list_landmarks_align_celeba.txt", "list_eval_partition.txt",
]
ATTRIBUTES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
    "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee "
    "Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard "
    "Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair "
    "Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()


def attribute_name(arg: str | None, spec_name: str) -> str:
    """The canonical attribute name (case-insensitive match), or an AdvlabError."""
    if not arg:
        raise AdvlabError(
            f"dataset: {spec_name!r} needs an attribute as its label, e.g. celeba:Male "
            f"(one of {', '.join(ATTRIBUTES)})"
        )
    for a in ATTRIBUTES:
        if a.lower() == arg.lower():
            return a
    raise AdvlabError(
        f"dataset: unknown CelebA attribute {arg!r} in {spec_name!r}; expected one of "
        f"{', '.join(ATTRIBUTES)}"
    )


@functools.lru_cache(maxsize=2)
def _celeba(root: str, split: str) -> tuple[list[str], torch.Tensor, list[str]]:
    """(file names, attributes {0,1} (N, 40), attribute names) of one split."""
    from torchvision.datasets import CelebA

    folder = Path(root) / "celeba"
    present = (folder / "img_align_celeba").is_dir() and all((folder / f).is_file() for f in FILES)
    msg = (
        f"--data-root: no CelebA found under {root} (expected {folder}/img_align_celeba/ and "
        f"{', '.join(FILES)}); download it with torchvision.datasets.CelebA({root!r}, "
        f"download=True) (needs gdown) or from the CelebA site into {folder}"
    )
    try:
        ds = fetch_or_explain(
            lambda d: CelebA(root, split="train" if split == "train" else "test", download=d),
            Path(root), present, msg,
        )
    except AdvlabError:
        raise
    except (RuntimeError, ValueError, IndexError) as e:
        raise AdvlabError(
            f"--data-root: the CelebA files in {folder} are corrupted or not the official "
            f"ones (torchvision: {e})"
        ) from None
    names = [str(a) for a in ds.attr_names if a]
    return list(ds.filename), ds.attr.to(torch.int64), names


def _decode(folder: Path, files: list[str], idx: torch.Tensor) -> torch.Tensor:
    """Decode JPEGs at ``idx`` to uint8 (k, 3, 64, 64)."""
    from PIL import Image
    from torchvision.transforms import functional as F

    out = torch.empty((len(idx), 3, SIZE, SIZE), dtype=torch.uint8)
    for j, i in enumerate(tqdm(idx.tolist(), desc="celeba images", disable=None, leave=False)):
        path = folder / files[i]
        try:
            with Image.open(path) as im:
                img = F.center_crop(F.resize(im.convert("RGB"), SIZE, antialias=True), [SIZE, SIZE])
        except OSError as e:
            raise AdvlabError(f"{path}: cannot be decoded as an image ({e})") from None
        out[j] = F.pil_to_tensor(img)
    return out


def celeba_source(split: str, arg: str | None, data_root: str | os.PathLike[str] | None, spec_name: str) -> Source:
    """CelebA, label = one attribute; images decoded only when fetched."""
    attribute = attribute_name(arg, spec_name)
    root = require_root(data_root, "celeba", "celeba/img_align_celeba/ and the CelebA list files")
    files, attr, names = _celeba(str(root.resolve()), split)
    if attribute not in names:
        raise AdvlabError(f"{root / 'celeba' / FILES[0]}: has no attribute column {attribute!r}")
    labels = attr[:, names.index(attribute)].contiguous()
    folder = root / "celeba" / "img_align_celeba"
    classes = [f"not {attribute}", attribute]
    return Source(f"celeba:{attribute}", labels, classes, torch.arange(len(labels)),
                  lambda idx: _decode(folder, files, idx))
