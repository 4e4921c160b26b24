"""Relabelled datasets D_rand and D_det (Ilyas et al. §3.2, Figure 6).

Each pair (x, y) becomes (x_adv, t): a target class t is drawn uniformly from all C classes
(D_rand; Figure 6: t ~ [C], so t = y for about 1/C of the points) or set to t = (y + 1) mod C
(D_det), and x_adv is a targeted L2 PGD
adversarial example towards t within ``||x_adv - x||_2 <= eps`` (Appendix C.5, Table 6:
CIFAR-10 eps 0.5, Restricted ImageNet eps 3; step 0.1; 100 iterations). The paper keeps
every point whether or not the target was reached; so do we, and we record per sample
whether it was reached (the rate is reported in the artifact's card).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import nn

from advlab.attacks.mode import eval_mode
from advlab.errors import AdvlabError, bad_argument
from advlab.precision import full_precision

Mode = Literal["rand", "det"]

#: mode -> how its target t is chosen (recorded in a construction's provenance)
TARGET_RULES: dict[str, str] = {
    "rand": "t uniform over all C classes (Figure 6: t ~ [C]; t = y for about 1/C of the points)",
    "det": "t = (y + 1) mod C (Figure 6)",
}

# Appendix C.5, Table 6.
TABLE6: dict[str, dict[str, float]] = {
    "cifar10": {"eps": 0.5, "step_size": 0.1, "steps": 100},
    "restricted-imagenet": {"eps": 3.0, "step_size": 0.1, "steps": 100},
}


@dataclass(frozen=True)
class RelabelConfig:
    """Hyper-parameters of the targeted L2 PGD (Table 6).

    Attributes:
        eps: L2 radius of the perturbation (pixel units).
        steps: PGD iterations; step_size: L2 length of each normalised step.
        random_start: start uniformly inside the eps ball (the paper starts at x).
        batch_size: images attacked together.
    """

    eps: float = 0.5
    steps: int = 100
    step_size: float = 0.1
    random_start: bool = False
    batch_size: int = 256

    def __post_init__(self) -> None:
        if not (self.eps >= 0 and math.isfinite(self.eps)):
            raise bad_argument("eps", self.eps, "a finite number >= 0")
        if not isinstance(self.steps, int) or self.steps < 0:
            raise bad_argument("steps", self.steps, "an integer >= 0")
        if not (self.step_size > 0 and math.isfinite(self.step_size)):
            raise bad_argument("step_size", self.step_size, "a finite number > 0")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise bad_argument("batch_size", self.batch_size, "an integer >= 1")


class RelabelResult(NamedTuple):
    """Outcome of :func:`relabel`.

    Attributes:
        x_adv: perturbed images in [0, 1], shape (N, C, H, W).
        target: the new labels t, int64, shape (N,).
        reached: bool, shape (N,): the source model predicts t on x_adv.
        delta_norm: ``||x_adv - x||_2`` per sample, shape (N,).
    """

    x_adv: torch.Tensor
    target: torch.Tensor
    reached: torch.Tensor
    delta_norm: torch.Tensor


def check_classes(y_all: torch.Tensor, num_classes: int, mode: str, dataset: str) -> None:
    """Refuse relabelling a dataset with fewer than two classes, or labels >= C.

    Args:
        y_all: every label of the source split, shape (N,).
        num_classes: C, the number of logits of the source model.
    """
    distinct = torch.unique(y_all)
    if num_classes < 2 or distinct.numel() < 2:
        only = distinct.tolist()
        raise AdvlabError(
            f"dataset: {dataset!r} has a single class {only} (model has {num_classes} outputs); "
            f"D_{mode} moves features between classes, so it needs at least 2 classes",
            param="dataset",
        )
    if int(y_all.max()) >= num_classes or int(y_all.min()) < 0:
        raise AdvlabError(
            f"dataset: {dataset!r} has labels in [{int(y_all.min())}, {int(y_all.max())}] but "
            f"the source model has {num_classes} outputs; use a model trained on this dataset",
            param="dataset",
        )


def choose_targets(
    y: torch.Tensor, num_classes: int, mode: str, *, generator: torch.Generator
) -> torch.Tensor:
    """New labels (:data:`TARGET_RULES`): uniform over all C classes (``rand``; t = y
    with probability 1/C, as in Figure 6) or ``(y + 1) mod C`` (``det``; t != y).

    Args:
        y: labels, int64 shape (N,); num_classes: C >= 2.

    Returns:
        t, int64 shape (N,), in [0, C).
    """
    if num_classes < 2:
        raise bad_argument("num_classes", num_classes, "an integer >= 2")
    if mode == "det":
        return (y + 1) % num_classes
    if mode == "rand":
        return torch.randint(0, num_classes, y.shape, generator=generator).to(y.device)
    raise bad_argument("mode", mode, "'rand' or 'det'")


def relabel(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    mode: Mode,
    num_classes: int,
    config: RelabelConfig,
    generator: torch.Generator,
    device: str | torch.device | None = None,
    progress: Callable[[int], None] | None = None,
) -> RelabelResult:
    """Targeted L2 PGD of every image towards its new label (Figure 6).

    Args:
        model: source classifier (standard for the paper's D_rand / D_det; robust for the
            Table 9 control); attacked in eval mode (every module's mode restored after),
            its parameters, buffers and parameter gradients untouched.
        x: images in [0, 1], shape (N, C, H, W); y: labels, int64 shape (N,).
        mode: ``"rand"`` or ``"det"``; num_classes: C.
        generator: CPU generator for the targets (and the random start, if enabled).
        device: where to compute (default: the model's device).
        progress: called with the number of images finished after each batch.

    A model run with the speed paths (:func:`advlab.precision.speed_paths`) attacks in its
    precision; ``reached`` is decided by the model in float32.
    """
    from advlab.attacks.pgd import pgd_perturb

    if y.shape != (x.shape[0],):
        raise bad_argument("y", tuple(y.shape), f"shape ({x.shape[0]},)")
    if device is None:
        device = next(iter(model.parameters()), torch.empty(0)).device
    t_all = choose_targets(y.cpu(), num_classes, mode, generator=generator)
    outs, reached, norms = [], [], []
    with eval_mode(model):
        for lo in range(0, x.shape[0], config.batch_size):
            xb = x[lo : lo + config.batch_size].to(device, torch.float32)
            yb = y[lo : lo + config.batch_size].to(device)
            tb = t_all[lo : lo + config.batch_size].to(device)
            xa = pgd_perturb(
                model, xb, yb, norm="l2", eps=config.eps, steps=config.steps,
                step_size=config.step_size, random_start=config.random_start, target=tb,
                loss="ce", box=(0.0, 1.0), generator=generator,
            )
            with torch.no_grad():  # success is judged in float32 (advlab.precision)
                reached.append((full_precision(model)(xa).argmax(dim=1) == tb).cpu())
            norms.append((xa - xb).flatten(1).norm(dim=1).cpu())
            outs.append(xa.to(x.device))
            if progress is not None:
                progress(xb.shape[0])
    if not outs:
        empty = torch.empty(0)
        return RelabelResult(x.clone().float(), t_all, empty.bool(), empty)
    return RelabelResult(torch.cat(outs), t_all, torch.cat(reached), torch.cat(norms))
