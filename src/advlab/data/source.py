"""A labelled image source and the views on it (class pair, slice).

Every loader returns a :class:`Source`: all labels of one split in memory, and a
``fetch`` that decodes the images at some indices. Views only select indices from the
labels, so ``celeba:Male[:1000]`` decodes 1,000 JPEGs, not 162,770.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from advlab.errors import AdvlabError

Fetch = Callable[[torch.Tensor], torch.Tensor]


def to_float(x: torch.Tensor) -> torch.Tensor:
    """Raw images to float32 in [0, 1]: uint8 is divided by 255 (as artifacts do)."""
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


def memory_fetch(x: torch.Tensor) -> Fetch:
    """A fetch over images already in memory, shape (N, C, H, W); returns copies."""

    def fetch(idx: torch.Tensor) -> torch.Tensor:
        return x[idx]

    return fetch


@dataclass
class Source:
    """One split of a dataset, possibly viewed.

    Attributes:
        name: the dataset name (for messages and cards).
        labels: int64 labels of the selected images, shape (n,).
        classes: class names; ``labels`` index into it.
        index: indices of the selected images in the underlying split, shape (n,).
        fetch: decodes raw images (uint8 or float32, shape (k, C, H, W)) at indices of
            the underlying split.
        value_range: the declared range of float pixels ((0, 1) for images; None for
            deliberately unbounded data such as synthetic samples).
    """

    name: str
    labels: torch.Tensor
    classes: list[str]
    index: torch.Tensor
    fetch: Fetch
    value_range: tuple[float, float] | None = (0.0, 1.0)

    @classmethod
    def in_memory(cls, name: str, x: torch.Tensor, y: torch.Tensor, classes: list[str],
                  value_range: tuple[float, float] | None = (0.0, 1.0)) -> Source:
        """A source over tensors x (N, C, H, W) and y (N,)."""
        return cls(name, y.to(torch.int64), classes, torch.arange(len(y)), memory_fetch(x), value_range)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def raw(self) -> torch.Tensor:
        """The selected images as stored (uint8 or float32), shape (n, C, H, W)."""
        return self.fetch(self.index)

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The selected images, float32 in [0, 1], shape (n, C, H, W), and int64 labels (n,)."""
        return to_float(self.raw()), self.labels.clone()

    def counts(self) -> list[int]:
        """Number of selected images per class, aligned with ``classes``."""
        return torch.bincount(self.labels, minlength=len(self.classes)).tolist()

    def pair(self, a: int, b: int, spec_name: str) -> Source:
        """Binary view: keep classes a and b, relabelled 0 and 1."""
        k = len(self.classes)
        for c in (a, b):
            if not 0 <= c < k:
                raise AdvlabError(
                    f"dataset: class {c} in {spec_name!r} is out of range; "
                    f"{self.name} has classes 0..{k - 1}"
                )
        keep = (self.labels == a) | (self.labels == b)
        labels = (self.labels[keep] == b).to(torch.int64)
        classes = [self.classes[a], self.classes[b]]
        return Source(self.name, labels, classes, self.index[keep], self.fetch, self.value_range)

    def window(self, s: slice, spec_name: str) -> Source:
        """Slice view (Python semantics), applied to the current selection."""
        r = range(len(self))[s]
        if len(r) == 0:
            raise AdvlabError(
                f"dataset: the slice in {spec_name!r} selects no images "
                f"(the split has {len(self)} images)"
            )
        pos = torch.arange(r.start, r.stop, r.step)
        return Source(self.name, self.labels[pos], self.classes, self.index[pos], self.fetch, self.value_range)
