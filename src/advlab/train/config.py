"""Typed training configuration and the parsers of its CLI spellings."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, cast

from advlab.errors import AdvlabError, bad_argument
from advlab.overrides import parse_number
from advlab.precision import PRECISIONS

Norm = Literal["l2", "linf"]
_ADV_RE = re.compile(r"^\s*([A-Za-z0-9_]+)\s*:\s*([^:]+?)\s*$")


@dataclass(frozen=True)
class AdvConfig:
    """The adversary of adversarial training.

    Args:
        kind: ``pgd`` (Madry et al.: train on PGD examples) or ``trades`` (Zhang et al.:
            CE on clean inputs + beta * KL(f(x_adv) || f(x))).
        norm: ``l2`` or ``linf``; eps: radius in pixel units (>= 0).
        steps: attack steps (7 in the features paper, Table 4 / App. C.3).
        step_size: per-step size; ``None`` means eps / 5 (features paper).
        random_start: PGD starts at a random point of the ball (Madry); the features
            paper starts from the original image (default). TRADES always starts at
            x + 0.001 * N(0, I), as in its reference code.
        beta: TRADES trade-off weight (ignored by PGD).
        box: ``unit`` keeps adversarial inputs in [0, 1] (real images); ``none`` leaves
            them unbounded (synthetic MFA data, whose samples leave [0, 1]: clipping
            would move the attack off the data's density).
    """

    kind: Literal["pgd", "trades"] = "pgd"
    norm: Norm = "l2"
    eps: float = 0.5
    steps: int = 7
    step_size: float | None = None
    random_start: bool = False
    beta: float = 6.0
    box: Literal["unit", "none"] = "unit"

    def __post_init__(self) -> None:
        _check(self.box in ("unit", "none"), "box", self.box, "'unit' or 'none'")
        _check(self.kind in ("pgd", "trades"), "kind", self.kind, "pgd or trades")
        _check(self.norm in ("l2", "linf"), "norm", self.norm, "l2 or linf")
        _check(_finite(self.eps) and self.eps >= 0, "eps", self.eps, "a finite number >= 0")
        _check(_int(self.steps) and self.steps >= 1, "steps", self.steps, "an int >= 1")
        _check(self.step_size is None or (_finite(self.step_size) and self.step_size > 0),
               "step_size", self.step_size, "a finite number > 0")
        _check(_finite(self.beta) and self.beta >= 0, "beta", self.beta, "a finite number >= 0")

    @property
    def box_bounds(self) -> tuple[float, float] | None:
        """The box as the attacks take it: (0, 1) or None."""
        return (0.0, 1.0) if self.box == "unit" else None

    @property
    def resolved_step_size(self) -> float:
        return self.step_size if self.step_size is not None else self.eps / 5


def parse_adv(spec: str) -> tuple[Norm, float]:
    """Parse ``l2:EPS`` / ``linf:EPS`` (the ``--adv`` option) into (norm, eps)."""
    expected = "l2:EPS or linf:EPS with EPS >= 0 (e.g. linf:8/255)"
    m = _ADV_RE.match(spec or "")
    if not m:
        raise bad_argument("adv", spec, expected)
    norm, raw = m.group(1).lower(), m.group(2)
    if norm not in ("l2", "linf"):
        raise bad_argument("adv", spec, expected, f"unknown norm {norm!r}")
    try:
        eps = float(parse_number(raw, "adv"))
    except AdvlabError:
        raise bad_argument("adv", spec, expected, f"{raw!r} is not a finite number") from None
    if eps < 0:
        raise bad_argument("adv", spec, expected, "eps must be >= 0")
    return cast(Norm, norm), eps  # checked above: 'l2' or 'linf'


def parse_kwargs(spec: str | None) -> dict[str, Any]:
    """Parse ``--model-kwargs width=32,hidden=64`` into a dict (ints, floats, bools, str).

    A value with ``/`` separators becomes a list: ``hidden=256/128`` -> [256, 128].
    """
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        key, sep, val = part.partition("=")
        if not sep or not key.strip().isidentifier():
            raise bad_argument("model_kwargs", part, "KEY=VALUE[,KEY=VALUE...]")
        items = [_scalar(v.strip()) for v in val.split("/")]
        out[key.strip()] = items if len(items) > 1 else items[0]
    return out


def _scalar(s: str) -> Any:
    if s.lower() in ("true", "false"):
        return s.lower() == "true"
    for convert in (int, float):
        try:
            return convert(s)
        except ValueError:
            pass
    return s


@dataclass
class TrainConfig:
    """Everything that determines a training run (saved resolved in config.json).

    Args:
        dataset: a name of :func:`advlab.load_dataset` (or a label for data passed in).
        test_dataset: where the test split comes from (None: ``dataset``'s own; for a
            constructed artifact, which has no test split, the dataset it was built from,
            as its card records). The features paper trains on D_rand / D_det and tests on
            the original test set.
        model, model_kwargs: architecture name and its keyword arguments. ``mean`` /
            ``std`` default to the training data's per-channel statistics.
        epochs, batch_size: schedule; batch_size is global (split over DDP ranks).
        optimizer, lr, momentum, weight_decay: ``sgd`` (momentum) or ``adam``.
        lr_drop_epochs, lr_drop_factor: step schedule: lr is multiplied by the factor
            at the start of each listed epoch (0-based).
        augment: ``none``, ``crop`` (random crop after padding H//8) or ``crop_flip``
            (plus horizontal flips; CIFAR-like data).
        adversarial: ``None`` for standard training, else :class:`AdvConfig`.
        seed, device: reproducibility (same seed, CPU -> same weights) and placement.
        robust_eval_subset: robust accuracy each epoch on the first N test points
            (0: off); PGD with ``robust_eval_steps`` steps, step 2.5 * eps / steps,
            random start, at the adversary's norm and eps (``robust_eval_eps`` overrides).
        eval_every: measure test accuracy after every K-th epoch and after the last one
            (0: after the last epoch only; the other epochs record ``test_acc`` as None).
            Recipes that need only the final model's accuracy skip the per-epoch passes
            over the test set, which cost more than training on a small set.
        checkpoint_every_steps: also write ``last/`` every K steps (0: only every
            ``checkpoint_every_seconds`` seconds and at each epoch's end).
        precision: ``fp32``, ``bf16`` or ``fp16``: the forward and backward passes (the
            model's and the adversary's) run under autocast in that dtype
            (:mod:`advlab.precision`); fp16 scales the loss (``torch.amp.GradScaler``, whose
            scale restarts at a resume). The weights and the optimizer stay float32.
        channels_last: convolution weights and inputs in the channels-last memory format.
        compile: run the model through ``torch.compile``.
    """

    dataset: str = "mnist5k"
    test_dataset: str | None = None
    model: str = "cnn"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 128
    optimizer: Literal["sgd", "adam"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_drop_epochs: tuple[int, ...] = ()
    lr_drop_factor: float = 0.1
    augment: Literal["none", "crop", "crop_flip"] = "none"
    adversarial: AdvConfig | None = None
    seed: int = 0
    device: str = "cpu"
    data_root: str | None = None
    robust_eval_subset: int = 0
    robust_eval_steps: int = 20
    robust_eval_norm: Norm | None = None
    robust_eval_eps: float | None = None
    eval_batch_size: int = 500
    eval_every: int = 1
    checkpoint_every_steps: int = 0
    checkpoint_every_seconds: float = 60.0
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool = False
    compile: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.adversarial, dict):
            self.adversarial = AdvConfig(**self.adversarial)
        self.lr_drop_epochs = tuple(int(e) for e in self.lr_drop_epochs)
        _check(_int(self.epochs) and self.epochs >= 1, "epochs", self.epochs, "an int >= 1")
        _check(_int(self.batch_size) and self.batch_size >= 1, "batch_size", self.batch_size, "an int >= 1")
        _check(self.optimizer in ("sgd", "adam"), "optimizer", self.optimizer, "sgd or adam")
        _check(_finite(self.lr) and self.lr > 0, "lr", self.lr, "a finite number > 0")
        _check(_finite(self.momentum) and 0 <= self.momentum < 1, "momentum", self.momentum,
               "a number in [0, 1)")
        _check(_finite(self.weight_decay) and self.weight_decay >= 0, "weight_decay",
               self.weight_decay, "a finite number >= 0")
        _check(_finite(self.lr_drop_factor) and self.lr_drop_factor > 0, "lr_drop_factor",
               self.lr_drop_factor, "a finite number > 0")
        _check(all(0 <= e < 10**6 for e in self.lr_drop_epochs), "lr_drop_epochs",
               self.lr_drop_epochs, "epochs >= 0")
        _check(self.augment in ("none", "crop", "crop_flip"), "augment", self.augment,
               "none, crop or crop_flip")
        _check(_int(self.seed) and 0 <= self.seed < 2**63, "seed", self.seed, "an int in [0, 2**63)")
        _check(self.robust_eval_subset >= 0, "robust_eval_subset", self.robust_eval_subset, "an int >= 0")
        _check(self.robust_eval_steps >= 1, "robust_eval_steps", self.robust_eval_steps, "an int >= 1")
        _check(self.checkpoint_every_steps >= 0, "checkpoint_every_steps", self.checkpoint_every_steps,
               "an int >= 0")
        _check(_finite(self.checkpoint_every_seconds) and self.checkpoint_every_seconds > 0,
               "checkpoint_every_seconds", self.checkpoint_every_seconds, "a finite number > 0")
        _check(_int(self.eval_every) and self.eval_every >= 0, "eval_every", self.eval_every,
               "an int >= 0")
        _check(self.eval_batch_size >= 1, "eval_batch_size", self.eval_batch_size, "an int >= 1")
        _check(self.robust_eval_norm in (None, "l2", "linf"), "robust_eval_norm",
               self.robust_eval_norm, "l2 or linf")
        _check(self.robust_eval_eps is None or (_finite(self.robust_eval_eps) and self.robust_eval_eps >= 0),
               "robust_eval_eps", self.robust_eval_eps, "a finite number >= 0")
        _check(self.precision in PRECISIONS, "precision", self.precision, ", ".join(PRECISIONS))
        _check(isinstance(self.channels_last, bool), "channels_last", self.channels_last, "true or false")
        _check(isinstance(self.compile, bool), "compile", self.compile, "true or false")
        if self.robust_eval_subset and self.adversarial is None and self.robust_eval_eps is None:
            raise AdvlabError("robust_eval_subset: needs robust_eval_eps (no adversary to copy "
                              "eps from)", param="robust_eval_subset")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lr_drop_epochs"] = list(self.lr_drop_epochs)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def evaluates_after(self, epoch: int) -> bool:
        """Whether the test set is measured after 0-based ``epoch`` (:attr:`eval_every`)."""
        last = epoch + 1 >= self.epochs
        return last or (self.eval_every > 0 and (epoch + 1) % self.eval_every == 0)

    def eval_threat(self) -> tuple[Norm, float] | None:
        """(norm, eps) of the per-epoch robust evaluation, or None when it is off."""
        if not self.robust_eval_subset:
            return None
        adv = self.adversarial
        norm = self.robust_eval_norm or (adv.norm if adv else "l2")
        eps = self.robust_eval_eps if self.robust_eval_eps is not None else (adv.eps if adv else 0.0)
        return norm, float(eps)


def _check(ok: bool, name: str, value: object, expected: str) -> None:
    if not ok:
        raise bad_argument(name, value, expected)


def _finite(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
