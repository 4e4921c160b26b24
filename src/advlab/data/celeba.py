"""CelebA through torchvision, one attribute as the binary label (``celeba:Male``).

Layout (torchvision's): ``<root>/celeba/img_align_celeba/*.jpg`` and the official text
files; advlab reads two of them itself, ``list_attr_celeba.txt`` and
``list_eval_partition.txt``, and checks their structure line by line (counts, the 40
attribute names, values -1 / 1, partitions 0 / 1 / 2, the same images in the same order,
plain file names). Splits: ``train`` = partition 0 (162,770 images), ``test`` =
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

from advlab.data.real import fetch_or_explain, require_root
from advlab.data.source import Source
from advlab.errors import AdvlabError
from advlab.progress import progress

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


#: the list files advlab reads (the other three official ones are not needed)
READ = ("list_attr_celeba.txt", "list_eval_partition.txt")
#: the official list_attr_celeba.txt is 26 MB; anything much larger is not CelebA
MAX_LIST_BYTES = 64 << 20
PARTITIONS = {"train": 0, "test": 2}


def _lines(path: Path) -> list[str]:
    """The non-empty lines of a CelebA list file (size-capped, ASCII)."""
    size = path.stat().st_size
    if size > MAX_LIST_BYTES:
        raise AdvlabError(f"{path}: {size:,} bytes; CelebA's list files are at most "
                          f"{MAX_LIST_BYTES >> 20} MB")
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise AdvlabError(f"{path}: not an ASCII text file (CelebA's list files are)") from None
    return [ln for ln in text.splitlines() if ln.strip()]


def _image_name(name: str, path: Path, row: int) -> str:
    """A plain file name of img_align_celeba (no folder part: the list cannot point elsewhere)."""
    if not name or name != os.path.basename(name) or name.startswith(".") or "\\" in name:
        raise AdvlabError(f"{path}: line {row + 1} names {name[:60]!r}; expected a file name such as 000001.jpg")
    return name


def parse_attributes(path: Path) -> tuple[list[str], torch.Tensor, list[str]]:
    """``list_attr_celeba.txt``: (file names, attributes in {0, 1} int64 (N, 40), names).

    Format: the count N, the 40 attribute names, then N lines ``NAME v1 .. v40`` with
    every value -1 (absent) or 1 (present). Anything else is refused with one line.
    """
    lines = _lines(path)
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise AdvlabError(f"{path}: expected the image count on line 1 and the attribute names on line 2")
    n, names = int(lines[0]), lines[1].split()
    if names != ATTRIBUTES:
        raise AdvlabError(f"{path}: line 2 names {len(names)} attributes; expected CelebA's 40 "
                          f"({ATTRIBUTES[0]} .. {ATTRIBUTES[-1]})")
    rows = lines[2:]
    if len(rows) != n:
        raise AdvlabError(f"{path}: line 1 announces {n:,} images but {len(rows):,} lines follow")
    files: list[str] = []
    values: list[list[bool]] = []
    for i, line in enumerate(rows):
        parts = line.split()
        if len(parts) != len(names) + 1 or not set(parts[1:]) <= {"-1", "1"}:
            raise AdvlabError(f"{path}: line {i + 3} is not a file name and 40 values -1 / 1")
        files.append(_image_name(parts[0], path, i + 2))
        values.append([v == "1" for v in parts[1:]])
    return files, torch.tensor(values, dtype=torch.int64).reshape(n, len(names)), names


def parse_partition(path: Path, files: list[str]) -> torch.Tensor:
    """``list_eval_partition.txt``: the partition (0 train, 1 valid, 2 test) of each of
    ``files``, int64 (N,); the file must list the same images in the same order."""
    rows = _lines(path)
    if len(rows) != len(files):
        raise AdvlabError(f"{path}: lists {len(rows):,} images; list_attr_celeba.txt lists {len(files):,}")
    out = torch.empty(len(files), dtype=torch.int64)
    for i, (line, name) in enumerate(zip(rows, files, strict=True)):
        parts = line.split()
        if len(parts) != 2 or parts[0] != name or parts[1] not in ("0", "1", "2"):
            raise AdvlabError(f"{path}: line {i + 1} is {line[:60]!r}; expected {name!r} and a "
                              "partition 0, 1 or 2 (the same images, in the same order, as "
                              "list_attr_celeba.txt)")
        out[i] = int(parts[1])
    return out


@functools.lru_cache(maxsize=2)
def _celeba(root: str, split: str) -> tuple[list[str], torch.Tensor, list[str]]:
    """(file names, attributes {0,1} (N, 40), attribute names) of one split."""
    from torchvision.datasets import CelebA

    folder = Path(root) / "celeba"
    present = (folder / "img_align_celeba").is_dir() and all((folder / f).is_file() for f in READ)
    msg = (
        f"--data-root: no CelebA found under {root} (expected {folder}/img_align_celeba/ and "
        f"{', '.join(READ)}); download it with torchvision.datasets.CelebA({root!r}, "
        f"download=True) (needs gdown) or from the CelebA site into {folder}"
    )
    fetch_or_explain(lambda d: CelebA(root, split="all", download=d) if d else None,
                     Path(root), present, msg)
    files, attr, names = parse_attributes(folder / READ[0])
    keep = torch.nonzero(parse_partition(folder / READ[1], files) == PARTITIONS[split]).flatten()
    return [files[i] for i in keep.tolist()], attr[keep].contiguous(), names


def _decode(folder: Path, files: list[str], idx: torch.Tensor) -> torch.Tensor:
    """Decode JPEGs at ``idx`` to uint8 (k, 3, 64, 64)."""
    from PIL import Image
    from torchvision.transforms import functional as F

    out = torch.empty((len(idx), 3, SIZE, SIZE), dtype=torch.uint8)
    for j, i in enumerate(progress(idx.tolist(), desc="celeba images")):
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
