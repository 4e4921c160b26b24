"""AutoAttack (Croce & Hein 2020): the standard ensemble as one library function.

``autoattack(model, x, y, norm=..., eps=...)`` runs APGD-CE, APGD-T (targeted DLR, 9 target
classes), FAB-T (9 target classes) and Square (5,000 queries), each on the points that are
still robust, and reports the robust accuracy after each attack and per-sample robust flags.
Every hyper-parameter is fixed by the version, as in AutoAttack:

* ``"standard"``: the four attacks above, 100 iterations each for the three gradient
  attacks, one restart each;
* ``"plus"``: AutoAttack's stronger version: APGD-CE and APGD-DLR with 5 restarts each,
  untargeted FAB with 5 restarts, Square, then APGD-T and FAB-T as in the standard version
  (a point's runs include every run the standard version makes of it, so it is never
  weaker on a point, Square's batch-shared windows aside; about twice the standard
  version's time in docs/attacks.md's benchmark);
* ``"apgd"``: APGD-CE and APGD-T only (cheaper; no gradient-free attack).

Several eps are evaluated in one call, smallest first: a point fooled at a smaller eps is
fooled at every larger one (the balls nest) and is not attacked again. FAB-T runs once per
point: it starts at the clean point (deterministic) and a point it did not fool at a smaller
eps ran every target to the end, so the smallest adversarial norm it found decides every
larger eps exactly as a new run would (:meth:`advlab.attacks.fab.FABT.search`). Random
starts are drawn per point (:mod:`advlab.attacks.keyed`), so a point's verdict at an eps
does not depend on the other points, the eps list or ``batch_size`` (Square excepted: its
window positions are shared by the batch, as in AutoAttack). An input ``robust``
mask (e.g. the flags of an earlier run) restricts the work to the points still robust.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from advlab.attacks.apgd import APGD, APGDT
from advlab.attacks.base import FixedEpsAttack, predict_logits, validate_inputs, verify
from advlab.attacks.fab import FAB, FABT
from advlab.attacks.mode import eval_mode
from advlab.attacks.square import Square
from advlab.attacks.threat import Box, _view, check_box, check_eps, check_norm, resolve_box
from advlab.errors import bad_argument
from advlab.precision import follow_model
from advlab.progress import progress

VERSIONS: dict[str, tuple[str, ...]] = {
    "standard": ("apgd-ce", "apgd-t", "fab-t", "square"),
    "plus": ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"),
    "apgd": ("apgd-ce", "apgd-t"),
}
#: ``fooled_by`` code of points misclassified clean, or marked not robust by the caller
FOOLED_CLEAN = 0
#: ``fooled_by`` code of points no attack fooled
ROBUST = -1


@dataclass
class AutoAttackResult:
    """The ensemble's result on N points at one eps.

    Attributes:
        norm, eps, version: the threat model and the version; attacks: names, in order.
        clean_accuracy: fraction correct before any attack (and not excluded by ``robust``).
        robust_accuracy: fraction still correct after every attack.
        accuracy_after: robust accuracy after each attack, in order (cumulative).
        robust: (N,) bool per-sample flags (pass them as ``robust=`` to a later run).
        fooled_by: (N,) int64: -1 robust, 0 misclassified (or marked not robust by the
            input mask), k >= 1 fooled by ``attacks[k - 1]``.
        x_adv: (N, C, H, W) the adversarial example where an attack found one, else x.
        seconds: wall time of each attack.
        per_eps: for a list of eps, one result per eps (the top level is the largest eps).
    """

    norm: str
    eps: float
    version: str
    attacks: list[str]
    clean_accuracy: float
    robust_accuracy: float
    accuracy_after: dict[str, float]
    robust: Tensor
    fooled_by: Tensor
    x_adv: Tensor
    seconds: dict[str, float]
    per_eps: dict[float, AutoAttackResult] = field(default_factory=dict)


def ensemble(norm: str, version: str = "standard", *, seed: int = 0,
             box: Box | str = (0.0, 1.0), batch_size: int = 256) -> list[tuple[str, FixedEpsAttack]]:
    """The attacks of a version, configured as AutoAttack configures them, in order."""
    if version not in VERSIONS:
        raise bad_argument("version", version, " or ".join(repr(v) for v in VERSIONS))
    restarts = 5 if version == "plus" else 1  # of the untargeted APGD and FAB runs
    common: dict[str, Any] = {"norm": norm, "box": box, "batch_size": batch_size, "seed": seed}
    made: dict[str, Callable[[], FixedEpsAttack]] = {
        "apgd-ce": lambda: APGD(steps=100, loss="ce", restarts=restarts, **common),
        "apgd-dlr": lambda: APGD(steps=100, loss="dlr", restarts=restarts, **common),
        "apgd-t": lambda: APGDT(steps=100, loss="dlr", n_target_classes=9, restarts=1,
                                **common),
        "fab": lambda: FAB(steps=100, restarts=restarts, **common),
        "fab-t": lambda: FABT(steps=100, n_target_classes=9, restarts=1, **common),
        "square": lambda: Square(n_queries=5000, p_init=0.8, restarts=1, **common),
    }
    return [(name, made[name]()) for name in VERSIONS[version]]


def autoattack(model: nn.Module, x: Tensor, y: Tensor, *, norm: str,
               eps: float | Sequence[float], version: str = "standard", seed: int = 0,
               robust: Tensor | None = None, box: Box | str = (0.0, 1.0),
               batch_size: int = 256) -> AutoAttackResult:
    """Run the AutoAttack ensemble on ``x`` (N,C,H,W) with labels ``y`` (N,).

    Args:
        norm: ``"l2"`` or ``"linf"``; eps: one radius or a list (pixel units).
        version: ``"standard"``, ``"plus"`` or ``"apgd"`` (see the module docstring).
        seed: seed of every attack's random start / search.
        robust: optional (N,) bool flags of an earlier run at an eps <= each eps here (e.g.
            the same eps, interrupted): points marked False count as not robust and are not
            attacked again (their ``x_adv`` is x).
        box: ``(lo, hi)``, None or ``"per-sample"``.
        batch_size: points attacked at once.
    Returns:
        an :class:`AutoAttackResult` (with ``per_eps`` when ``eps`` is a list).
    """
    norm = check_norm(norm)
    eps_list = [check_eps(e) for e in (eps if isinstance(eps, Sequence) else [eps])]
    if not eps_list:
        raise bad_argument("eps", eps, "a number >= 0 or a non-empty list of them")
    attacks = ensemble(norm, version, seed=seed, box=check_box(box), batch_size=batch_size)
    x, y = x.detach(), y.detach()
    with eval_mode(model):
        validate_inputs(model, x, y, None, attacks[0][1].box)
        start = predict_logits(model, x, batch_size).argmax(1) == y
    if robust is not None:
        from advlab.evaluate.accuracy import check_mask

        start = start & check_mask(robust, len(x)).to(start.device)
    clean = float(start.float().mean()) if len(x) else float("nan")
    results: dict[float, AutoAttackResult] = {}
    prev: AutoAttackResult | None = None
    memos = {name: _FabMemo(torch.full((len(x),), float("nan"), device=x.device), x.clone())
             for name, attack in attacks if isinstance(attack, FABT)}
    for e in sorted(set(eps_list)):
        prev = results[e] = _one_eps(model, x, y, e, attacks, start, clean, version, prev, memos)
    top = results[max(eps_list)]
    if isinstance(eps, Sequence):
        top.per_eps = {e: results[e] for e in eps_list}
    return top


def _one_eps(model: nn.Module, x: Tensor, y: Tensor, eps: float,
             attacks: list[tuple[str, FixedEpsAttack]], start: Tensor, clean: float,
             version: str, prev: AutoAttackResult | None, memos: dict[str, _FabMemo]
             ) -> AutoAttackResult:
    """The ensemble at one eps; points fooled at the smaller eps of ``prev`` are carried."""
    fooled_by = torch.full((len(x),), ROBUST, dtype=torch.long, device=x.device)
    fooled_by[~start] = FOOLED_CLEAN
    x_adv = x.clone()
    if prev is not None:
        carried = ~prev.robust & start
        fooled_by[carried], x_adv[carried] = prev.fooled_by[carried], prev.x_adv[carried]
    after, seconds = {}, {}
    for k, (name, attack) in enumerate(progress(attacks, desc=f"autoattack eps={eps:g}",
                                                unit="attack"), start=1):
        todo = torch.nonzero(fooled_by == ROBUST).flatten()
        t = time.perf_counter()
        if len(todo):
            if isinstance(attack, FABT) and attack.config["restarts"] == 1:
                success, xa = _fab_once(model, x, y, eps, attack, todo, memos[name])
            else:
                res = attack(model, x[todo], y[todo], eps=eps)
                success, xa = res.success, res.x_adv
            hit = todo[success]
            fooled_by[hit], x_adv[hit] = k, xa[success]
        seconds[name] = time.perf_counter() - t
        after[name] = float((fooled_by == ROBUST).float().mean()) if len(x) else float("nan")
    robust = fooled_by == ROBUST
    return AutoAttackResult(
        norm=attacks[0][1].norm, eps=eps, version=version, attacks=[n for n, _ in attacks],
        clean_accuracy=clean, robust_accuracy=after[attacks[-1][0]], accuracy_after=after,
        robust=robust, fooled_by=fooled_by, x_adv=x_adv, seconds=seconds)


@dataclass
class _FabMemo:
    """FAB-T's smallest adversarial norm per point (N,) (NaN: not run yet) and the iterate
    there (N,C,H,W) (x where none)."""

    smallest: Tensor
    x: Tensor


def _fab_once(model: nn.Module, x: Tensor, y: Tensor, eps: float, attack: FABT,
              todo: Tensor, memo: _FabMemo) -> tuple[Tensor, Tensor]:
    """FAB-T at ``eps`` on the points ``todo`` (M,): runs it on those it never ran on (with
    ``eps``) and reads the others' verdict from ``memo``. Returns verified (success (M,),
    x_adv (M,C,H,W))."""
    new = todo[torch.isnan(memo.smallest[todo])]
    with eval_mode(model):
        if len(new):
            xs, ys, _ = follow_model(model, x[new], y[new], None)
            assert xs is not None and ys is not None
            done = torch.zeros(len(new), dtype=torch.bool, device=xs.device)
            _, smallest, x_small = attack.search(model, xs, ys, eps, done)
            memo.smallest[new], memo.x[new] = smallest.to(x.device), x_small.to(x.device)
        hit = memo.smallest[todo] <= eps
        x_adv = torch.where(_view(hit, x[todo]), memo.x[todo], x[todo])
        success, _ = verify(model, x[todo], y[todo], x_adv, None, attack.norm, eps,
                            resolve_box(attack.box, x[todo]))
    return success, x_adv


__all__ = ["autoattack", "ensemble", "AutoAttackResult", "VERSIONS", "ROBUST", "FOOLED_CLEAN"]
