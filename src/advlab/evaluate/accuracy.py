"""Clean and robust accuracy, accuracy against the number of steps (features paper Fig. 8).

The default robust-accuracy protocol (``step_size=None``) is APGD (Croce & Hein 2020) with
the cross-entropy loss and then, on the points still robust, APGD with the DLR loss: each
run has ``steps`` iterations whose step size adapts per sample (it starts at 2 eps and halves
where the loss stalls), from AutoAttack's random start. A fixed ``step_size`` selects plain
PGD with that step instead (for reproducing a paper's PGD). docs/attacks.md#default-protocol
gives the reasons and the checks: the former default (PGD, step 2.5 eps / steps) found fewer
adversarial examples than torchattacks' PGD with step eps/4 or eps/10 on the mnist5k CNN.

The points are attacked in fixed chunks, each with its own seed (:mod:`advlab.evaluate.split`),
so under ``torchrun`` (inside :func:`~advlab.evaluate.split.over_ranks`) the ranks share the
chunks and every point gets the verdict one process would give it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from advlab.attacks.apgd import APGDEnsemble
from advlab.attacks.base import FixedEpsAttack, predict_logits, validate_inputs
from advlab.attacks.mode import eval_mode
from advlab.attacks.pgd import PGD
from advlab.attacks.threat import Box, check_eps
from advlab.errors import bad_argument
from advlab.evaluate import split
from advlab.evaluate.checks import check_attack, check_model, stronger_of
from advlab.progress import progress


def clean_accuracy(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 512) -> float:
    """Fraction of ``x`` (N,C,H,W) classified as ``y`` (N,), in eval mode (mode restored).

    Inside :func:`advlab.evaluate.split.over_ranks` under ``torchrun`` each rank predicts its
    chunks of the points and the counts are summed (every rank must call it)."""
    if len(x) == 0:
        raise bad_argument("x", "0 images", "at least one image")
    hits = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    with eval_mode(model):
        validate_inputs(model, x, y, None, None)
        bounds = split.chunks(len(x), batch_size)
        for i in split.mine(len(bounds)):  # all chunks in one process
            lo, hi = bounds[i]
            hits[lo:hi] = predict_logits(model, x[lo:hi], batch_size).argmax(1) == y[lo:hi]
    return float(split.all_sum(hits).float().mean())


def protocol_attack(*, norm: str, steps: int = 20, step_size: float | None = None,
                    restarts: int = 1, loss: str = "ce", box: Box | str = (0.0, 1.0),
                    batch_size: int = 256, seed: int = 0) -> FixedEpsAttack:
    """The untargeted attack behind :func:`robust_accuracy` (early stop on).

    ``step_size=None``: :class:`~advlab.attacks.APGDEnsemble` - APGD with ``loss`` and then
    APGD with DLR (with cross-entropy when ``loss`` is DLR) on the points still robust, each
    with ``steps`` iterations and ``restarts`` random starts. A number:
    :class:`~advlab.attacks.PGD` with that fixed step and a random start.
    """
    if step_size is None:
        second = "ce" if loss == "dlr" else "dlr"
        return APGDEnsemble(norm=norm, steps=steps, losses=(loss, second), restarts=restarts,
                            box=box, batch_size=batch_size, seed=seed)
    return PGD(norm=norm, steps=steps, step_size=step_size, restarts=restarts, loss=loss,
               box=box, batch_size=batch_size, seed=seed)


def robust_flags(model: nn.Module, x: Tensor, y: Tensor, *, norm: str,
                 eps: Sequence[float] | float, steps: int = 20,
                 step_size: float | None = None, restarts: int = 1, loss: str = "ce",
                 box: Box | str = (0.0, 1.0), batch_size: int = 256, seed: int = 0,
                 checks: bool = True, robust: Tensor | None = None) -> dict[float, Tensor]:
    """Per-sample robustness under the default protocol: ``{eps: (N,) bool}``, True where
    the point is classified correctly and the attack found no adversarial example.

    Arguments as :func:`robust_accuracy`, and ``robust``: optional (N,) bool flags of an
    earlier attack at an eps <= each eps here; points marked False count as not robust and
    are not attacked. All eps go through one call, smallest first: a point fooled at a
    smaller eps is not attacked again (the balls nest). The points are attacked in fixed
    chunks (:func:`advlab.evaluate.split.chunks`): with the default protocol (APGD, whose
    random starts are keyed by each point) every chunk with ``seed``; with a fixed
    ``step_size`` (PGD, one random stream per call) chunk i with
    :func:`~advlab.evaluate.split.chunk_seed` (seed, i). Under ``torchrun``, inside
    :func:`~advlab.evaluate.split.over_ranks`, the ranks share the chunks and every rank
    gets every flag.
    """
    eps_list = [check_eps(e) for e in (eps if isinstance(eps, Sequence) else [eps])]
    if not eps_list:
        raise bad_argument("eps", eps, "a non-empty list of numbers >= 0")
    def attack_of(chunk: int) -> FixedEpsAttack:
        # APGD draws each point's start from the point's own stream (advlab.attacks.keyed):
        # one seed keeps a verdict independent of the chunk; PGD draws per call: per chunk
        s = seed if step_size is None else split.chunk_seed(seed, chunk)
        return protocol_attack(norm=norm, steps=steps, step_size=step_size, restarts=restarts,
                               loss=loss, box=box, batch_size=batch_size, seed=s)

    attack = attack_of(0)
    if checks:
        check_model(model, x)
    todo = torch.ones(len(x), dtype=torch.bool, device=x.device) if robust is None else \
        check_mask(robust, len(x)).to(x.device)
    fooled = _chunked_success(model, x, y, todo, eps_list, attack_of, batch_size)
    if checks:
        # the check's stronger attack counts where it succeeds; when it finds the attack
        # unconverged (docs/attacks.md#more-steps), every point still robust is attacked again
        if "more-steps" in check_attack(model, x, y, attack=attack, fooled=fooled, found=fooled):
            fooled = _chunked_success(model, x, y, todo & ~fooled[min(eps_list)], eps_list,
                                      lambda i: stronger_of(attack_of(i)), batch_size,
                                      before=fooled)
        ordered = sorted(eps_list)  # the balls nest: fooled at an eps, fooled at every larger one
        for small, large in zip(ordered, ordered[1:], strict=False):
            fooled[large] = fooled[large] | fooled[small]
    return {e: ~s for e, s in fooled.items()}


def _chunked_success(model: nn.Module, x: Tensor, y: Tensor, todo: Tensor,
                     eps_list: list[float], attack_of: Callable[[int], FixedEpsAttack],
                     batch_size: int, before: dict[float, Tensor] | None = None
                     ) -> dict[float, Tensor]:
    """Attack the ``todo`` (N,) points chunk by chunk (:mod:`advlab.evaluate.split`: this
    rank's chunks, each with its own seed); ``{eps: (N,) bool}`` success, True where not
    ``todo``, summed over the ranks. ``before``: earlier successes per eps, kept (OR-ed)."""
    hit = torch.zeros(len(eps_list), len(x), dtype=torch.bool, device=x.device)
    if before is not None:
        for k, e in enumerate(eps_list):
            hit[k] = before[e].to(x.device) & todo
    bounds = split.chunks(len(x), batch_size)
    for i in split.mine(len(bounds)):
        lo, hi = bounds[i]
        idx = lo + torch.nonzero(todo[lo:hi]).flatten()
        if len(idx):
            res = attack_of(i)(model, x[idx], y[idx], eps=eps_list)
            for k, e in enumerate(eps_list):
                hit[k, idx] |= res.per_eps[e].success.to(x.device)
    hit = split.all_sum(hit) | ~todo
    return {e: hit[k] for k, e in enumerate(eps_list)}


def check_mask(robust: object, n: int) -> Tensor:
    """``robust`` as an (n,) bool tensor, or an error naming the argument."""
    if not isinstance(robust, Tensor) or robust.shape != (n,) or robust.dtype != torch.bool:
        raise bad_argument("robust", getattr(robust, "shape", robust), f"a bool tensor of shape ({n},)")
    return robust


def robust_accuracy(model: nn.Module, x: Tensor, y: Tensor, *, norm: str,
                    eps: Sequence[float] | float, steps: int = 20,
                    step_size: float | None = None, restarts: int = 1, loss: str = "ce",
                    box: Box | str = (0.0, 1.0), batch_size: int = 256, seed: int = 0,
                    checks: bool = True) -> dict[float, float]:
    """Robust accuracy under the default untargeted protocol for each eps: the fraction of
    points still classified correctly after the attack.

    ``step_size=None`` (default) runs APGD-CE and then APGD-DLR on the points still robust
    (adaptive step, ``steps`` iterations each, ``restarts`` runs each); a number runs PGD with
    that fixed step (see :func:`protocol_attack`). ``loss``: the first run's loss, ``"ce"``,
    ``"cw"`` or ``"dlr"``. Samples stop being attacked as soon as they are fooled
    (early stop), which does not change the result. With ``checks`` the automatic sanity
    checks of :mod:`advlab.evaluate.checks` run on a subset afterwards.

    Returns:
        ``{eps: accuracy}`` in the order given.
    """
    flags = robust_flags(model, x, y, norm=norm, eps=eps, steps=steps, step_size=step_size,
                         restarts=restarts, loss=loss, box=box, batch_size=batch_size,
                         seed=seed, checks=checks)
    return {e: float(f.float().mean()) for e, f in flags.items()}


def accuracy_vs_steps(model: nn.Module, x: Tensor, y: Tensor, *, norm: str, eps: float,
                      steps_list: Sequence[int], step_size: float | None = None,
                      box: Box | str = (0.0, 1.0), seed: int = 0) -> dict[int, float]:
    """Robust accuracy at one eps for each number of steps (features paper, Figure 8).

    Each value is :func:`robust_accuracy` with ``steps`` set to that number (the default
    protocol: APGD-CE then APGD-DLR, whose step schedules scale with ``steps``; or PGD with a
    fixed ``step_size``), so the value at 20 steps is the one the tables report.
    """
    if not steps_list:
        raise bad_argument("steps_list", steps_list, "a non-empty list of integers >= 0")
    return {int(s): robust_accuracy(model, x, y, norm=norm, eps=[eps], steps=int(s),
                                    step_size=step_size, box=box, seed=seed,
                                    checks=False)[check_eps(eps)]
            for s in progress(steps_list, desc="accuracy vs steps", unit="run")}


__all__ = ["check_mask", "clean_accuracy", "protocol_attack", "robust_flags", "robust_accuracy",
           "accuracy_vs_steps"]
