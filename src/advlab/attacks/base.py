"""Attack base: input validation, one eps or a list, verified uniform results.

Subclasses write only ``_run`` (fixed-eps attacks) or ``_attack_batch`` (minimum-norm attacks,
one chunk at a time; ``_run_min`` when the whole input is needed at once);
the base owns the common work, as in foolbox 3: validating inputs, putting the model in
eval mode (restored after), splitting a list of eps, and verifying every result
(``||delta|| <= eps + 1e-6``, inside the box, success recomputed on the returned tensors).

A model run with the speed paths (:class:`advlab.precision.FastModel`: bf16 / fp16 autocast,
channels-last) is attacked as it is: its forward and backward run in the low precision, while
the steps, norms and projections work on float32 tensors and the clean predictions and the
verification use the model in float32 (:func:`predict_logits`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from advlab.attacks.losses import is_adversarial
from advlab.attacks.mode import eval_mode
from advlab.attacks.sanity import warn
from advlab.attacks.threat import Bounds, Box, check_box, check_eps, norms, resolve_box, take_bounds
from advlab.errors import AdvlabError, bad_argument
from advlab.precision import follow_model, full_precision, model_device
from advlab.progress import progress

TOL = 1e-6


class AttackVerificationError(RuntimeError):
    """An attack returned a result outside its threat model (a bug in the attack)."""


@dataclass
class AttackResult:
    """Verified result of an attack on N points.

    Attributes:
        x_adv: adversarial images (N, C, H, W) (the clean image where a min-norm attack failed).
        success: (N,) bool, recomputed on ``x_adv``: ``pred != y`` or ``pred == target``.
        norms: (N,) float, ``||x_adv - x||`` in ``norm``; minimum-norm attacks put ``inf``
            where they failed.
        norm: ``"l2"`` or ``"linf"``; eps: the radius (None for minimum-norm attacks).
        clean_success: (N,) bool, already adversarial at ``x`` (e.g. misclassified).
        per_eps: for a list of eps, one result per eps (the top-level fields are those
            of the largest eps). With early stop, a point fooled at a smaller eps keeps that
            example at the larger ones (the balls nest) and is not attacked again.
    """

    x_adv: Tensor
    success: Tensor
    norms: Tensor
    norm: str
    eps: float | None
    clean_success: Tensor
    per_eps: dict[float, AttackResult] = field(default_factory=dict)

    @property
    def success_rate(self) -> float:
        """Fraction of the N points that are adversarial."""
        return float(self.success.float().mean()) if len(self.success) else float("nan")


@torch.no_grad()
def predict_logits(model: nn.Module, x: Tensor, batch_size: int = 512) -> Tensor:
    """Logits (N, K) of ``model`` on ``x`` (N, ...), in batches, without gradients.

    Each batch runs on the model's device; the logits come back on ``x``'s device.
    Always float32: a model run in a low precision (:class:`advlab.precision.FastModel`) is
    evaluated here without autocast, so every decision made from these logits (clean
    predictions, the verification of success, accuracy) is a float32 decision.
    """
    model = full_precision(model)
    dev = model_device(model) or x.device
    if len(x) == 0:
        return model(x.to(dev)).to(x.device)
    return torch.cat([model(x[i:i + batch_size].to(dev)).to(x.device)
                      for i in range(0, len(x), batch_size)])


def looks_like_probabilities(logits: Tensor) -> bool:
    """True when every row is non-negative and sums to 1 (softmax outputs, not logits)."""
    if logits.numel() == 0:
        return False
    sums = logits.sum(dim=1)
    return bool((logits >= 0).all() and torch.allclose(sums, torch.ones_like(sums), atol=1e-4))


def validate_inputs(model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None,
                    box: Box) -> Tensor:
    """Check images, labels and target; return the clean logits (N, K).

    Raises AdvlabError for NaN inputs, shape mismatches, labels outside the logits'
    range, a target equal to the true label, or images outside a fixed box; warns
    (SanityWarning) when the model returns probabilities.
    """
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 2:
        raise bad_argument("x", getattr(x, "shape", type(x)), "a float tensor (N, C, H, W)")
    if torch.isnan(x).any():
        raise bad_argument("x", f"{int(torch.isnan(x).sum())} NaN values", "finite images")
    if not isinstance(y, Tensor) or y.shape != (len(x),) or y.is_floating_point():
        raise bad_argument("y", getattr(y, "shape", type(y)), f"int64 labels of shape ({len(x)},)")
    logits = predict_logits(model, x)
    if logits.dim() != 2 or len(logits) != len(x):
        raise bad_argument("model", tuple(logits.shape), f"logits of shape ({len(x)}, K)")
    k = logits.shape[1]
    for name, labels in (("y", y), ("target", target)):
        if labels is None:
            continue
        if not isinstance(labels, Tensor) or labels.shape != (len(x),):
            raise bad_argument(name, getattr(labels, "shape", labels), f"shape ({len(x)},)")
        bad = (labels < 0) | (labels >= k)
        if bad.any():
            raise bad_argument(name, int(labels[bad][0]), f"labels in [0, {k - 1}] "
                               f"(the model has {k} logits)")
    if target is not None and (target == y).any():
        idx = torch.nonzero(target == y).flatten()[:5].tolist()
        raise AdvlabError(f"target: equals the true label y at indices {idx}; a targeted "
                          "attack needs a target class different from y")
    _check_inside_box(x, box)
    if looks_like_probabilities(logits):
        warn("model returns probabilities (rows >= 0 summing to 1), not logits: attack "
             "losses saturate; remove the final softmax", "probabilities", stacklevel=4)
    return logits


def _check_inside_box(x: Tensor, box: Box) -> None:
    if isinstance(box, tuple) and len(x):
        lo, hi = float(x.min()), float(x.max())
        if lo < box[0] - TOL or hi > box[1] + TOL:
            raise bad_argument("x", f"values in [{lo:.3g}, {hi:.3g}]", f"images inside the box "
                               f"{box}", "use box=None or box='per-sample' for data outside it")


def verify(model: nn.Module, x: Tensor, y: Tensor, x_adv: Tensor, target: Tensor | None,
           norm: str, eps: float | None, bounds: Bounds) -> tuple[Tensor, Tensor]:
    """Check a result against its threat model; return (success (N,), norms (N,)).

    Raises AttackVerificationError when ``x_adv`` leaves the eps ball or the box, or
    contains NaN.
    """
    if x_adv.shape != x.shape or torch.isnan(x_adv).any():
        raise AttackVerificationError(f"x_adv has shape {tuple(x_adv.shape)} or NaNs")
    n = norms(x_adv - x, norm)
    if eps is not None and len(n) and float(n.max()) > eps + TOL:
        raise AttackVerificationError(f"perturbation norm {float(n.max()):.6g} > eps {eps}")
    if bounds is not None and len(x) and (
            (x_adv < bounds[0] - TOL).any() or (x_adv > bounds[1] + TOL).any()):
        raise AttackVerificationError("x_adv leaves the box")
    success = is_adversarial(predict_logits(model, x_adv), y, target) if len(x) else \
        torch.zeros(0, dtype=torch.bool, device=x.device)
    return success, n


def _on_model_device(model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None
                     ) -> tuple[Tensor, Tensor, Tensor | None]:
    """x (N, C, H, W), y (N,) and target (N,) detached and moved to the model's device: an
    attack runs where its model is, and its result lives there too."""
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        return x, y, target  # validate_inputs names the bad argument
    xs, ys, ts = follow_model(model, x.detach(), y.detach(), target)
    assert xs is not None and ys is not None
    return xs, ys, ts


class Attack:
    """Base of every attack: keyword-only hyper-parameters stored unchanged in ``.config``."""

    box: Box

    def __init__(self, **config: Any) -> None:
        self.config: dict[str, Any] = dict(config)
        self.box = check_box(config.get("box", (0.0, 1.0)))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{type(self).__name__}({args})"

    def batches(self, idx: Tensor, eps: float | None = None) -> Any:
        """``idx`` (M,) split into chunks of ``batch_size``, iterated with progress (a bar on
        a terminal, a plain line every 30 s elsewhere; see :mod:`advlab.progress`)."""
        chunks = idx.split(int(self.config["batch_size"]))
        desc = type(self).__name__ + ("" if eps is None else f" eps={eps:g}")
        return progress(chunks, desc=desc, unit="batch")


class FixedEpsAttack(Attack):
    """An attack inside an eps ball; called with one eps or a list of eps."""

    norm: str

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, *,
                 eps: float | Sequence[float], target: Tensor | None = None) -> AttackResult:
        """Attack ``x`` (N,C,H,W) with labels ``y`` (N,) at one eps or each eps of a list."""
        eps_list = [check_eps(e) for e in (eps if isinstance(eps, Sequence) else [eps])]
        if not eps_list:
            raise bad_argument("eps", eps, "a number >= 0 or a non-empty list of them")
        x, y, target = _on_model_device(model, x, y, target)
        bounds = resolve_box(self.box, x)
        results: dict[float, AttackResult] = {}
        with eval_mode(model):
            clean = is_adversarial(validate_inputs(model, x, y, target, self.box), y, target)
            prev: AttackResult | None = None
            for e in sorted(eps_list):
                x_adv = self._run_nested(model, x, y, e, target, clean, prev)
                success, n = self._verify_nested(model, x, y, x_adv, target, e, bounds, prev)
                results[e] = prev = AttackResult(x_adv, success, n, self.norm, e, clean)
            results = {e: results[e] for e in eps_list}
        top = results[max(eps_list)]
        if isinstance(eps, Sequence):
            top = AttackResult(top.x_adv, top.success, top.norms, self.norm, top.eps, clean,
                               per_eps=results)
        return top

    def _run_nested(self, model: nn.Module, x: Tensor, y: Tensor, eps: float,
                    target: Tensor | None, clean: Tensor, prev: AttackResult | None) -> Tensor:
        """With early stop, points fooled at a smaller eps keep that example (the balls nest)
        and only the others are attacked at ``eps``."""
        if prev is None or not self.config.get("early_stop", False):
            return self._run(model, x, y, eps, target, clean)
        todo = ~prev.success
        x_adv = prev.x_adv.clone()
        if todo.any():
            t = None if target is None else target[todo]
            x_adv[todo] = self._run(model, x[todo], y[todo], eps, t, clean[todo])
        return x_adv

    def _verify_nested(self, model: nn.Module, x: Tensor, y: Tensor, x_adv: Tensor,
                       target: Tensor | None, eps: float, bounds: Bounds,
                       prev: AttackResult | None) -> tuple[Tensor, Tensor]:
        """Verify ``x_adv``; rows carried over unchanged from the smaller eps ``prev`` (nested
        reuse) were verified there on the very same tensors and keep that verdict."""
        if prev is None or not self.config.get("early_stop", False):
            return verify(model, x, y, x_adv, target, self.norm, eps, bounds)
        keep = prev.success & (x_adv == prev.x_adv).flatten(1).all(dim=1)
        success, n = prev.success.clone(), prev.norms.clone()
        todo = ~keep
        if todo.any():
            t = None if target is None else target[todo]
            success[todo], n[todo] = verify(model, x[todo], y[todo], x_adv[todo], t, self.norm,
                                            eps, take_bounds(bounds, todo))
        return success, n

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, eps: float,
             target: Tensor | None, clean_success: Tensor) -> Tensor:
        raise NotImplementedError


class MinNormAttack(Attack):
    """An attack that looks for the smallest perturbation; norms are inf where it fails."""

    norm: str = "l2"

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, *,
                 target: Tensor | None = None, init: Tensor | None = None) -> AttackResult:
        """Find small adversarial perturbations of ``x`` (N,C,H,W); ``init`` (N,C,H,W) optional
        adversarial starting points (used where they are adversarial)."""
        x, y, target = _on_model_device(model, x, y, target)
        with eval_mode(model):
            clean = is_adversarial(validate_inputs(model, x, y, target, self.box), y, target)
        if init is not None and init.shape != x.shape:
            raise bad_argument("init", tuple(init.shape), f"starting points of shape {tuple(x.shape)}")
        init = None if init is None else follow_model(model, init.detach())[0]
        bounds = resolve_box(self.box, x)
        with eval_mode(model):
            x_adv = self._run_min(model, x, y, target, bounds, init)
            success, n = verify(model, x, y, x_adv, target, self.norm, None, bounds)
        x_adv = torch.where(success.view(-1, *[1] * (x.dim() - 1)), x_adv, x)
        n = torch.where(success, n, torch.full_like(n, float("inf")))
        return AttackResult(x_adv, success, n, self.norm, None, clean)

    def _run_min(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None,
                 bounds: Bounds, init: Tensor | None) -> Tensor:
        """Attack ``x`` (N,C,H,W) in chunks of ``config["batch_size"]``; returns x_adv (N,C,H,W).

        Per-sample tensors (labels, targets, starting points, per-sample bounds) are sliced
        with the chunk; scalar bounds are shared.
        """
        out = x.clone()
        for chunk in self.batches(torch.arange(len(x), device=x.device)):
            t = None if target is None else target[chunk]
            start = None if init is None else init[chunk]
            out[chunk] = self._attack_batch(model, x[chunk], y[chunk], t, take_bounds(bounds, chunk),
                                            start)
        return out

    def _attack_batch(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None,
                      bounds: Bounds, init: Tensor | None) -> Tensor:
        """Attack one chunk (m,C,H,W); returns its x_adv. Subclasses write this."""
        raise NotImplementedError
