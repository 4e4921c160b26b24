"""Clean and robust accuracy, accuracy against the number of PGD steps (features paper Fig. 8)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn
from tqdm.auto import tqdm

from advlab.attacks.base import predict_logits, validate_inputs
from advlab.attacks.mode import eval_mode
from advlab.attacks.pgd import PGD
from advlab.attacks.threat import Box, check_eps
from advlab.errors import bad_argument
from advlab.evaluate.checks import check_attack, check_model


def clean_accuracy(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 512) -> float:
    """Fraction of ``x`` (N,C,H,W) classified as ``y`` (N,), in eval mode (mode restored)."""
    if len(x) == 0:
        raise bad_argument("x", "0 images", "at least one image")
    with eval_mode(model):
        validate_inputs(model, x, y, None, None)
        pred = predict_logits(model, x, batch_size).argmax(1)
    return float((pred == y).float().mean())


def robust_accuracy(model: nn.Module, x: Tensor, y: Tensor, *, norm: str,
                    eps: Sequence[float] | float, steps: int = 20,
                    step_size: float | None = None, restarts: int = 1, loss: str = "ce",
                    box: Box | str = (0.0, 1.0), batch_size: int = 256, seed: int = 0,
                    checks: bool = True) -> dict[float, float]:
    """Robust accuracy under untargeted PGD for each eps: the fraction of points still
    classified correctly after the attack.

    ``step_size=None`` means ``2.5 * eps / steps``. Samples stop being attacked as soon as
    they are fooled (early stop), which does not change the result. With ``checks`` the
    automatic sanity checks of :mod:`advlab.evaluate.checks` run on a subset afterwards.

    Returns:
        ``{eps: accuracy}`` in the order given.
    """
    eps_list = [check_eps(e) for e in (eps if isinstance(eps, Sequence) else [eps])]
    if not eps_list:
        raise bad_argument("eps", eps, "a non-empty list of numbers >= 0")
    attack = PGD(norm=norm, steps=steps, step_size=step_size, restarts=restarts, loss=loss,
                 box=box, batch_size=batch_size, seed=seed)
    if checks:
        check_model(model, x)
    out: dict[float, float] = {}
    fooled: dict[float, Tensor] = {}
    for e in tqdm(eps_list, desc="robust accuracy", disable=None, leave=False):
        res = attack(model, x, y, eps=e)
        out[e], fooled[e] = 1.0 - res.success_rate, res.success
    if checks:
        check_attack(model, x, y, attack=attack, fooled=fooled)
    return out


def accuracy_vs_steps(model: nn.Module, x: Tensor, y: Tensor, *, norm: str, eps: float,
                      steps_list: Sequence[int], step_size: float | None = None,
                      box: Box | str = (0.0, 1.0), seed: int = 0) -> dict[int, float]:
    """Robust accuracy at one eps for each number of PGD steps (features paper, Figure 8).

    ``step_size=None`` uses ``2.5 * eps / steps`` for each steps value.
    """
    if not steps_list:
        raise bad_argument("steps_list", steps_list, "a non-empty list of integers >= 0")
    return {int(s): robust_accuracy(model, x, y, norm=norm, eps=[eps], steps=int(s),
                                    step_size=step_size, box=box, seed=seed,
                                    checks=False)[check_eps(eps)]
            for s in tqdm(steps_list, desc="steps", disable=None, leave=False)}


__all__ = ["clean_accuracy", "robust_accuracy", "accuracy_vs_steps"]
