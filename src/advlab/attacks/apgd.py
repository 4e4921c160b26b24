"""Auto-PGD (APGD, Croce & Hein 2020, Algorithm 1): PGD with momentum and an adaptive step.

APGD needs no step size: it starts at ``2 * eps`` and halves a sample's step at checkpoints
where its loss stopped increasing (condition 1: at most ``rho`` of the steps since the
last checkpoint raised the loss; condition 2: the step was not halved at the last
checkpoint and the best loss has not improved since), restarting that sample from its best
point. Checkpoints follow the paper: after ``0.22 * steps`` iterations, then intervals that
shrink by ``0.03 * steps`` down to ``0.06 * steps``.

``APGD`` maximises cross-entropy, the CW margin or the DLR loss; ``APGDT`` (AutoAttack's
APGD-T) runs the targeted DLR loss towards each of the ``n_target_classes`` classes the model
ranks highest after the true one, in turn, on the points still robust, and counts any
misclassification as success. Both drop a sample from the batch at its first adversarial
iterate (early stop) and return verified results through :class:`FixedEpsAttack`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from advlab.attacks.base import FixedEpsAttack, predict_logits
from advlab.attacks.keyed import keyed_noise, point_seeds
from advlab.attacks.losses import check_loss, is_adversarial, objective
from advlab.attacks.threat import (
    Bounds,
    Box,
    _view,
    check_norm,
    clamp_box,
    normalized_step,
    project_ball,
    resolve_box,
    take_bounds,
)
from advlab.errors import bad_argument
from advlab.seeding import derive_seed

#: per-sample objective and success of the active samples: f(logits (m, K), idx (m,)) -> (m,)
Objective = Callable[[Tensor, Tensor], Tensor]
#: momentum weight of AutoAttack (the paper's alpha)
MOMENTUM = 0.75


def checkpoints(steps: int) -> list[int]:
    """Iteration counts after which APGD checks its step size (the paper's ``w_j``).

    The first check comes after ``max(int(0.22 * steps), 1)`` iterations; each later
    interval is the previous one minus ``max(int(0.03 * steps), 1)``, but at least
    ``max(int(0.06 * steps), 1)`` (as AutoAttack's reference implementation rounds them).
    """
    interval, decrease = max(int(0.22 * steps), 1), max(int(0.03 * steps), 1)
    least = max(int(0.06 * steps), 1)
    out, at = [], interval
    while at <= steps:
        out.append(at)
        interval = max(interval - decrease, least)
        at += interval
    return out


def apgd_start(x0: Tensor, norm: str, eps: float, noise: Tensor) -> Tensor:
    """AutoAttack's random start from ``noise`` (N,C,H,W): standard normal draws (L2) become
    a point on the sphere of radius ``eps``; uniform draws in [0, 1) (Linf) a uniform
    direction scaled to Linf norm ``eps``. Returns the perturbation (N,C,H,W)."""
    if norm == "linf":
        t = 2 * noise.to(x0) - 1
        scale = t.flatten(1).abs().amax(1).clamp_min(1e-12)
    else:
        t = noise.to(x0)
        scale = t.flatten(1).norm(dim=1).clamp_min(1e-12)
    return eps * t / _view(scale, t)


@dataclass
class _State:
    """APGD state of the active samples (m of them), all tensors indexed alike."""

    idx: Tensor        # (m,) positions in the batch
    x: Tensor          # (m,C,H,W) current iterate
    x_prev: Tensor     # (m,C,H,W) previous iterate (momentum)
    grad: Tensor       # (m,C,H,W) gradient at x
    value: Tensor      # (m,) objective at x
    step: Tensor       # (m,) step size eta
    x_max: Tensor      # (m,C,H,W) highest-objective point so far
    grad_max: Tensor   # (m,C,H,W) gradient there
    f_max: Tensor      # (m,) its objective
    ups: Tensor        # (m,) steps since the last checkpoint that raised the objective
    f_max_check: Tensor  # (m,) f_max at the last checkpoint
    halved: Tensor     # (m,) bool: step halved at the last checkpoint

    def keep(self, mask: Tensor) -> None:
        """Keep only the samples where ``mask`` (m,) is True."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name)[mask])


def _evaluate(model: nn.Module, x: Tensor, value_fn: Objective, success_fn: Objective,
              idx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """One forward-backward at ``x`` (m,C,H,W): (objective (m,), gradient, success (m,))."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        value = value_fn(logits, idx)
        (grad,) = torch.autograd.grad(value.sum(), x)
    return value.detach(), grad.detach(), success_fn(logits.detach(), idx)


def apgd_batch(model: nn.Module, x0: Tensor, start: Tensor, *, norm: str, eps: float,
               steps: int, bounds: Bounds, value_fn: Objective, success_fn: Objective,
               rho: float = 0.75, early_stop: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """One APGD run on a batch of clean images ``x0`` (m,C,H,W) from ``start`` (m,C,H,W).

    ``value_fn`` and ``success_fn`` map logits of the active samples and their positions
    in the batch to the objective (maximised) and to success. One forward-backward per
    iteration; its logits also decide success, so nothing is evaluated twice.

    Returns:
        (x (m,C,H,W): the first adversarial iterate where one was found, else the
        highest-objective point; success (m,) bool; best objective (m,)).
    """
    out_x, out_val = start.clone(), torch.full((len(x0),), float("-inf"), device=x0.device)
    out_succ = torch.zeros(len(x0), dtype=torch.bool, device=x0.device)
    idx = torch.arange(len(x0), device=x0.device)
    value, grad, succ = _evaluate(model, start, value_fn, success_fn, idx)
    s = _State(idx, start, start, grad, value, torch.full_like(value, 2 * eps), start, grad,
               value, torch.zeros_like(value), value, torch.zeros_like(succ))
    marks, done_at = set(checkpoints(steps)), 0
    for i in range(steps + 1):
        if succ.any():  # record the first adversarial iterate
            hit = s.idx[succ & ~out_succ[s.idx]]
            first = succ & ~out_succ[s.idx]
            out_x[hit], out_val[hit], out_succ[hit] = s.x[first], s.value[first], True
            if early_stop:
                s.keep(~succ)
        if len(s.idx) == 0 or i == steps:
            break
        s.x, s.x_prev = _step(s, x0[s.idx], norm, eps, take_bounds(bounds, s.idx), i), s.x
        value, s.grad, succ = _evaluate(model, s.x, value_fn, success_fn, s.idx)
        s.ups += value > s.value
        s.value = value
        better = value > s.f_max
        s.x_max = torch.where(_view(better, s.x), s.x, s.x_max)
        s.grad_max = torch.where(_view(better, s.x), s.grad, s.grad_max)
        s.f_max = torch.where(better, value, s.f_max)
        if i + 1 in marks:
            _checkpoint(s, i + 1 - done_at, rho)
            done_at = i + 1
    rest = s.idx[~out_succ[s.idx]]
    keep = ~out_succ[s.idx]
    out_x[rest], out_val[rest] = s.x_max[keep], s.f_max[keep]
    return out_x, out_succ, out_val


def _step(s: _State, x0: Tensor, norm: str, eps: float, bounds: Bounds, i: int) -> Tensor:
    """The momentum step of Algorithm 1: ``z = P(x + eta * dir(grad))``, then
    ``P(x + a (z - x) + (1 - a)(x - x_prev))`` with ``a = 1`` at the first step."""
    a = 1.0 if i == 0 else MOMENTUM

    def project(v: Tensor) -> Tensor:
        return clamp_box(x0 + project_ball(v - x0, norm, eps), bounds)

    z = project(s.x + _view(s.step, s.x) * normalized_step(s.grad, norm))
    return project(s.x + a * (z - s.x) + (1 - a) * (s.x - s.x_prev))


def _checkpoint(s: _State, interval: int, rho: float) -> None:
    """Halve the step of samples whose objective stalled, and restart them at x_max."""
    stalled = s.ups <= rho * interval
    stuck = ~s.halved & (s.f_max <= s.f_max_check)
    halve = stalled | stuck
    s.step = torch.where(halve, s.step / 2, s.step)
    s.x = torch.where(_view(halve, s.x), s.x_max, s.x)
    s.grad = torch.where(_view(halve, s.x), s.grad_max, s.grad)
    s.halved, s.f_max_check, s.ups = halve, s.f_max.clone(), torch.zeros_like(s.ups)


class APGD(FixedEpsAttack):
    """Auto-PGD with restarts, per-sample early stop and verified results.

    Args (keyword-only, stored unchanged in ``.config``):
        norm: ``"l2"`` or ``"linf"``.
        steps: iterations per run (AutoAttack uses 100); one forward-backward each, plus one
            at the start.
        loss: ``"ce"`` (APGD-CE), ``"dlr"`` (APGD-DLR; needs >= 3 classes, >= 4 targeted) or
            ``"cw"``. With ``target`` the targeted version of the loss is used.
        restarts: runs; each later run attacks only the points still robust from a new
            random start and keeps, per sample, a successful point or the highest-loss one.
        rho: the fraction of increasing steps below which the step is halved (0.75).
        random_start: start on the sphere of radius eps (L2) or at Linf distance eps, as
            AutoAttack; False starts at the clean point.
        early_stop: a sample leaves the batch at its first adversarial iterate.
        box: ``(lo, hi)``, ``None`` or ``"per-sample"``. batch_size: points at once.
        seed: random-start seed (each point draws its start from its own stream, keyed by
            this seed and the point: :mod:`advlab.attacks.keyed`).
    """

    def __init__(self, *, norm: str = "l2", steps: int = 100, loss: str = "ce",
                 restarts: int = 1, rho: float = 0.75, random_start: bool = True,
                 early_stop: bool = True, box: Box | str = (0.0, 1.0), batch_size: int = 256,
                 seed: int = 0) -> None:
        super().__init__(norm=norm, steps=steps, loss=loss, restarts=restarts, rho=rho,
                         random_start=random_start, early_stop=early_stop, box=box,
                         batch_size=batch_size, seed=seed)
        self.norm = check_norm(norm)
        self.loss = check_loss(loss)
        for name, value, low in (("steps", steps, 0), ("restarts", restarts, 1),
                                 ("batch_size", batch_size, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise bad_argument(name, value, f"an integer >= {low}")
        if not 0.0 <= float(rho) <= 1.0:
            raise bad_argument("rho", rho, "a fraction in [0, 1]")

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, eps: float,
             target: Tensor | None, clean_success: Tensor) -> Tensor:
        done = clean_success.clone() if self.config["early_stop"] else \
            torch.zeros_like(clean_success)
        seeds = point_seeds(x, y, int(self.config["seed"]))
        best_x, _ = self._runs(model, x, y, eps, target, target, done, seeds)
        return best_x

    def _runs(self, model: nn.Module, x: Tensor, y: Tensor, eps: float,
              loss_target: Tensor | None, success_target: Tensor | None,
              done: Tensor, seeds: list[int], *parts: int | str) -> tuple[Tensor, Tensor]:
        """All restarts on the points not ``done`` (N,) bool, batch by batch.

        The loss aims at ``loss_target`` and success is judged against ``success_target``
        (None: untargeted). Random starts come from each point's own stream (``seeds`` (N,),
        :func:`~advlab.attacks.keyed.point_seeds`; ``parts`` and the restart name the draw),
        so a point's run does not depend on the other points. Returns (x_adv (N,C,H,W), success (N,) bool); ``done`` is
        updated in place.
        """
        cfg = self.config
        bounds = resolve_box(self.box, x)
        best_x, best_val = x.clone(), torch.full((len(x),), float("-inf"), device=x.device)
        success = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        if eps == 0:
            return best_x, success
        for r in range(cfg["restarts"]):
            for chunk in self.batches(torch.nonzero(~done).flatten(), eps):
                xa, succ, val = self._one_run(model, x[chunk], y[chunk],
                                              _sub(loss_target, chunk),
                                              _sub(success_target, chunk), eps,
                                              take_bounds(bounds, chunk),
                                              [seeds[i] for i in chunk.tolist()], (*parts, r))
                better = succ | ((val > best_val[chunk]) & ~success[chunk])
                best_x[chunk[better]], best_val[chunk[better]] = xa[better], val[better]
                success[chunk[succ]] = True
                done[chunk[succ]] = True
        return best_x, success

    def _one_run(self, model: nn.Module, x0: Tensor, y: Tensor, loss_target: Tensor | None,
                 success_target: Tensor | None, eps: float, bounds: Bounds,
                 seeds: list[int], parts: tuple[int | str, ...]
                 ) -> tuple[Tensor, Tensor, Tensor]:
        start = x0
        if self.config["random_start"]:
            noise = keyed_noise(seeds, tuple(x0.shape[1:]), "apgd-start", *parts,
                                kind="uniform" if self.norm == "linf" else "normal", like=x0)
            start = clamp_box(x0 + apgd_start(x0, self.norm, eps, noise), bounds)
        return apgd_batch(
            model, x0, start, norm=self.norm, eps=eps, steps=self.config["steps"],
            bounds=bounds, rho=float(self.config["rho"]), early_stop=self.config["early_stop"],
            value_fn=lambda z, i: objective(z, y[i], _sub(loss_target, i), self.loss),
            success_fn=lambda z, i: is_adversarial(z, y[i], _sub(success_target, i)))


class APGDT(APGD):
    """AutoAttack's APGD-T: targeted APGD towards each of the top ``n_target_classes``
    classes in turn, on the points still robust; any misclassification is a success.

    The targets of a point are the classes other than ``y`` ranked by its clean logits
    (highest first). Takes the arguments of :class:`APGD` (``loss`` defaults to ``"dlr"``,
    the targeted DLR loss; ``restarts`` are per target class) plus ``n_target_classes``
    (AutoAttack: 9). Called without ``target`` (it picks its own).
    """

    def __init__(self, *, norm: str = "l2", steps: int = 100, loss: str = "dlr",
                 n_target_classes: int = 9, restarts: int = 1, rho: float = 0.75,
                 random_start: bool = True, early_stop: bool = True,
                 box: Box | str = (0.0, 1.0), batch_size: int = 256, seed: int = 0) -> None:
        super().__init__(norm=norm, steps=steps, loss=loss, restarts=restarts, rho=rho,
                         random_start=random_start, early_stop=early_stop, box=box,
                         batch_size=batch_size, seed=seed)
        if not isinstance(n_target_classes, int) or n_target_classes < 1:
            raise bad_argument("n_target_classes", n_target_classes, "an integer >= 1")
        self.config = {**self.config, "n_target_classes": n_target_classes}

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, eps: float,
             target: Tensor | None, clean_success: Tensor) -> Tensor:
        if target is not None:
            raise bad_argument("target", "a tensor", "None: APGDT picks its own target "
                               "classes; use APGD(loss='dlr') for a given target")
        done = clean_success.clone() if self.config["early_stop"] else \
            torch.zeros_like(clean_success)
        ranked = _ranked_targets(model, x, y, self.config["n_target_classes"])
        seeds = point_seeds(x, y, int(self.config["seed"]))
        best_x = x.clone()
        for rank, targets in enumerate(ranked, start=1):
            xa, succ = self._runs(model, x, y, eps, targets, None, done, seeds, "target", rank)
            best_x[succ] = xa[succ]
        return best_x


def _ranked_targets(model: nn.Module, x: Tensor, y: Tensor, n: int) -> list[Tensor]:
    """Target labels (N,) for each rank 1..n: the classes other than ``y`` by clean logit."""
    logits = predict_logits(model, x)
    n = min(n, logits.shape[1] - 1)
    if len(x) == 0:
        return [y.clone() for _ in range(n)]
    others = logits.scatter(1, y[:, None], float("-inf"))
    order = others.argsort(dim=1, descending=True)
    return [order[:, r].contiguous() for r in range(n)]


def _sub(t: Tensor | None, idx: Tensor) -> Tensor | None:
    return None if t is None else t[idx]




class APGDEnsemble(FixedEpsAttack):
    """APGD with several losses in turn, each run only on the points still robust.

    The default robust-accuracy protocol is ``APGDEnsemble(losses=("ce", "dlr"))``: APGD-CE,
    then APGD-DLR (scale-invariant, so it still moves where cross-entropy saturates) on what
    APGD-CE left robust. DLR needs 3 classes; on a 2-class model the CW margin stands in.

    Args (keyword-only, stored in ``.config``): norm; steps per run; losses (names of
    :data:`~advlab.attacks.losses.LOSSES`, in order); restarts per loss; box; batch_size;
    seed. ``loss`` (the first of ``losses``) is also stored, for the checks that need one,
    and ``early_stop`` (always True), so that ``APGDEnsemble(**attack.config)`` rebuilds it.
    """

    def __init__(self, *, norm: str = "l2", steps: int = 20,
                 losses: tuple[str, ...] = ("ce", "dlr"), restarts: int = 1,
                 box: Box | str = (0.0, 1.0), batch_size: int = 256, seed: int = 0,
                 loss: str | None = None, early_stop: bool = True) -> None:
        losses = tuple(losses)
        if not losses or (loss is not None and loss != losses[0]):
            raise bad_argument("losses", losses, "a non-empty tuple of loss names (and loss, "
                               "if given, equal to its first)")
        if early_stop is not True:
            raise bad_argument("early_stop", early_stop, "True (each run attacks only the "
                               "points the runs before it left robust)")
        super().__init__(norm=norm, steps=steps, losses=losses, restarts=restarts, box=box,
                         batch_size=batch_size, seed=seed, loss=losses[0], early_stop=True)
        self.members = [APGD(norm=norm, steps=steps, loss=name, restarts=restarts, box=box,
                             batch_size=batch_size, seed=derive_seed(seed, "member", k))
                        for k, name in enumerate(losses)]
        self.norm = self.members[0].norm

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, eps: float,
             target: Tensor | None, clean_success: Tensor) -> Tensor:
        num_classes = predict_logits(model, x[:1]).shape[1] if len(x) else 0
        done = clean_success.clone()
        out = x.clone()
        for member in self.members:
            if member.loss == "dlr" and num_classes < (3 if target is None else 4):
                member = APGD(**{**member.config, "loss": "cw"})
            todo = torch.nonzero(~done).flatten()
            if len(todo) == 0:
                break
            t = None if target is None else target[todo]
            seeds = point_seeds(x[todo], y[todo], int(member.config["seed"]))
            xa, hit = member._runs(model, x[todo], y[todo], eps, t, t, done[todo].clone(), seeds)
            out[todo], done[todo[hit]] = xa, True
        return out


__all__ = ["APGD", "APGDT", "APGDEnsemble", "apgd_batch", "apgd_start", "checkpoints"]
