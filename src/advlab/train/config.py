"""Typed training configuration and the parsers of its CLI spellings."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from advlab.errors import AdvlabError

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
        if self.box not in ("unit", "none"):
            raise AdvlabError(f"box: got {self.box!r}; expected 'unit' or 'none'")
        if self.kind not in ("pgd", "trades"):
            raise AdvlabError(f"--adv: got kind {self.kind!r}; expected pgd or trades")
        if self.norm not in ("l2", "linf"):
            raise AdvlabError(f"--adv: got norm {self.norm!r}; expected l2:EPS or linf:EPS")
        if not self.eps >= 0:
            raise AdvlabError(f"--adv: got eps {self.eps!r}; expected eps >= 0")
        if self.steps < 1:
            raise AdvlabError(f"--adv-steps: got {self.steps!r}; expected an int >= 1")
        if self.step_size is not None and not self.step_size > 0:
            raise AdvlabError(f"--adv-step-size: got {self.step_size!r}; expected a number > 0")
        if not self.beta >= 0:
            raise AdvlabError(f"--trades: got beta {self.beta!r}; expected beta >= 0")

    @property
    def box_bounds(self) -> tuple[float, float] | None:
        """The box as the attacks take it: (0, 1) or None."""
        return (0.0, 1.0) if self.box == "unit" else None

    @property
    def resolved_step_size(self) -> float:
        return self.step_size if self.step_size is not None else self.eps / 5


def parse_adv(spec: str) -> tuple[Norm, float]:
    """Parse ``l2:EPS`` / ``linf:EPS`` (the ``--adv`` option) into (norm, eps)."""
    expected = "l2:EPS or linf:EPS with EPS >= 0"
    m = _ADV_RE.match(spec or "")
    if not m:
        raise AdvlabError(f"--adv: got {spec!r}; expected {expected}")
    norm, raw = m.group(1).lower(), m.group(2)
    if norm not in ("l2", "linf"):
        raise AdvlabError(f"--adv: got {spec!r}: unknown norm {norm!r}; expected {expected}")
    try:
        eps = float(raw)
    except ValueError:
        raise AdvlabError(f"--adv: got {spec!r}: {raw!r} is not a number; expected {expected}") from None
    if not eps >= 0 or eps == float("inf"):
        raise AdvlabError(f"--adv: got {spec!r}: eps must be finite and >= 0; expected {expected}")
    return norm, eps  # type: ignore[return-value]


def parse_kwargs(spec: str | None) -> dict[str, Any]:
    """Parse ``--model-kwargs width=32,hidden=64`` into a dict (ints, floats, bools, str).

    A value with ``/`` separators becomes a list: ``hidden=256/128`` -> [256, 128].
    """
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        key, sep, val = part.partition("=")
        if not sep or not key.strip().isidentifier():
            raise AdvlabError(f"--model-kwargs: got {part!r}; expected KEY=VALUE[,KEY=VALUE...]")
        items = [_scalar(v.strip()) for v in val.split("/")]
        out[key.strip()] = items if len(items) > 1 else items[0]
    return out


def _scalar(s: str) -> Any:
    if s.lower() in ("true", "false"):
        return s.lower() == "true"
    for cast in (int, float):
        try:
            return cast(s)
        except ValueError:
            pass
    return s


@dataclass
class TrainConfig:
    """Everything that determines a training run (saved resolved in config.json).

    Args:
        dataset: a name of :func:`advlab.load_dataset` (or a label for data passed in).
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
        checkpoint_every_steps: also write ``last/`` every K steps (0: only every
            ``checkpoint_every_seconds`` seconds and at each epoch's end).
    """

    dataset: str = "mnist5k"
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
    checkpoint_every_steps: int = 0
    checkpoint_every_seconds: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.adversarial, dict):
            self.adversarial = AdvConfig(**self.adversarial)
        self.lr_drop_epochs = tuple(int(e) for e in self.lr_drop_epochs)
        _check(self.epochs >= 1, "--epochs", self.epochs, "an int >= 1")
        _check(self.batch_size >= 1, "--batch-size", self.batch_size, "an int >= 1")
        _check(self.optimizer in ("sgd", "adam"), "--optimizer", self.optimizer, "sgd or adam")
        _check(self.lr > 0, "--lr", self.lr, "a number > 0")
        _check(self.weight_decay >= 0, "--weight-decay", self.weight_decay, "a number >= 0")
        _check(self.lr_drop_factor > 0, "--lr-drop-factor", self.lr_drop_factor, "a number > 0")
        _check(self.augment in ("none", "crop", "crop_flip"), "--augment", self.augment,
               "none, crop or crop_flip")
        _check(self.robust_eval_subset >= 0, "--robust-eval-subset", self.robust_eval_subset, "an int >= 0")
        _check(self.checkpoint_every_steps >= 0, "--checkpoint-every", self.checkpoint_every_steps,
               "an int >= 0")
        _check(self.robust_eval_norm in (None, "l2", "linf"), "--robust-eval", self.robust_eval_norm,
               "l2 or linf")
        if self.robust_eval_subset and self.adversarial is None and self.robust_eval_eps is None:
            raise AdvlabError("--robust-eval-subset: set --robust-eval l2:EPS (no adversary to copy eps from)")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lr_drop_epochs"] = list(self.lr_drop_epochs)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

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
        raise AdvlabError(f"{name}: got {value!r}; expected {expected}")
