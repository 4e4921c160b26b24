"""FAB-T and Square, the two AutoAttack members advlab takes from torchattacks.

AutoAttack's standard ensemble ends with FAB-T (Croce & Hein 2020b, targeted, minimum-norm
steps on the linearised decision boundary) and Square (Andriushchenko et al. 2020, a
gradient-free random search). We use the implementations of the optional package
``torchattacks`` (ports of the AutoAttack authors' code) instead of writing our own: FAB's
core is the exact projection onto a hyperplane intersected with the box, per norm, which is
easy to get subtly wrong, and both attacks find few extra points after APGD-CE and APGD-T
on models without gradient masking, so their speed matters less than their fidelity.

The wrappers make them advlab attacks: keyword-only configuration, one eps or a list,
verified results (``||delta|| <= eps``, inside the box, success recomputed; outputs are
projected onto the ball and the box first, which changes nothing but float rounding), the
points already misclassified skipped, and the global random state left untouched
(torchattacks reseeds it). Install with ``pip install --no-deps torchattacks`` so that pip
never replaces torch.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch
from torch import Tensor, nn

from advlab.attacks.base import FixedEpsAttack, predict_logits
from advlab.attacks.threat import Box, check_norm, clamp_box, project_ball, resolve_box
from advlab.errors import AdvlabError, bad_argument


def torchattacks_module() -> ModuleType:
    """Import the optional dependency torchattacks, or raise AdvlabError saying how to get it."""
    try:
        import torchattacks
    except ImportError:
        raise AdvlabError("FAB-T and Square come from the optional package torchattacks: "
                          "install it with `pip install --no-deps torchattacks` (--no-deps "
                          "keeps your torch), or use autoattack(..., version='apgd')") from None
    return torchattacks


class _Torchattacks(FixedEpsAttack):
    """Base of the wrappers: untargeted, box (0, 1), chunks of ``batch_size``."""

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.norm = check_norm(config["norm"])
        if self.box != (0.0, 1.0):
            raise bad_argument("box", config.get("box"), "(0.0, 1.0): torchattacks clamps "
                               "its iterates to [0, 1]")
        for name in ("steps", "restarts", "batch_size", "n_queries", "n_target_classes"):
            value = config.get(name, 1)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad_argument(name, value, "an integer >= 1")

    def _make(self, model: nn.Module, eps: float, num_classes: int) -> Any:
        raise NotImplementedError

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, eps: float,
             target: Tensor | None, clean_success: Tensor) -> Tensor:
        if target is not None:
            raise bad_argument("target", "a tensor", f"None: {type(self).__name__} is untargeted")
        out = x.clone()
        todo = torch.nonzero(~clean_success).flatten()
        if eps == 0 or len(todo) == 0:
            return out
        atk = self._make(model, eps, predict_logits(model, x[:1]).shape[1])
        devices = [x.device] if x.is_cuda else []
        with torch.random.fork_rng(devices=devices):
            for chunk in todo.split(self.config["batch_size"]):
                out[chunk] = atk(x[chunk], y[chunk]).detach().to(x.dtype)
        return clamp_box(x + project_ball(out - x, self.norm, eps), resolve_box(self.box, x))


class FABT(_Torchattacks):
    """AutoAttack's FAB-T: targeted FAB towards each of the top ``n_target_classes`` classes.

    Args (keyword-only): norm ``"l2"`` | ``"linf"``; steps per target (AutoAttack: 100);
    n_target_classes (9); restarts (1); alpha_max 0.1, eta 1.05, beta 0.9 (FAB's own);
    box (only (0, 1)); batch_size; seed.
    """

    def __init__(self, *, norm: str = "l2", steps: int = 100, n_target_classes: int = 9,
                 restarts: int = 1, alpha_max: float = 0.1, eta: float = 1.05,
                 beta: float = 0.9, box: Box | str = (0.0, 1.0), batch_size: int = 256,
                 seed: int = 0) -> None:
        super().__init__(norm=norm, steps=steps, n_target_classes=n_target_classes,
                         restarts=restarts, alpha_max=alpha_max, eta=eta, beta=beta, box=box,
                         batch_size=batch_size, seed=seed, early_stop=True)

    def _make(self, model: nn.Module, eps: float, num_classes: int) -> Any:
        cfg = self.config
        n_targets = min(cfg["n_target_classes"], num_classes - 1)
        # torchattacks attacks n_classes - 1 targets: the top classes after the predicted one
        return torchattacks_module().FAB(
            model, norm="L2" if self.norm == "l2" else "Linf", eps=eps, steps=cfg["steps"],
            n_restarts=cfg["restarts"], alpha_max=cfg["alpha_max"], eta=cfg["eta"],
            beta=cfg["beta"], seed=cfg["seed"], multi_targeted=True, n_classes=n_targets + 1)


class Square(_Torchattacks):
    """Square attack: random search over square-shaped updates, margin loss, no gradients.

    Args (keyword-only): norm; n_queries per point (AutoAttack: 5000); p_init (0.8, the
    initial fraction of pixels changed); restarts (1); box (only (0, 1)); batch_size; seed.
    """

    def __init__(self, *, norm: str = "l2", n_queries: int = 5000, p_init: float = 0.8,
                 restarts: int = 1, box: Box | str = (0.0, 1.0), batch_size: int = 256,
                 seed: int = 0) -> None:
        super().__init__(norm=norm, n_queries=n_queries, p_init=p_init, restarts=restarts,
                         box=box, batch_size=batch_size, seed=seed, early_stop=True)

    def _make(self, model: nn.Module, eps: float, num_classes: int) -> Any:
        cfg = self.config
        return torchattacks_module().Square(
            model, norm="L2" if self.norm == "l2" else "Linf", eps=eps,
            n_queries=cfg["n_queries"], n_restarts=cfg["restarts"], p_init=cfg["p_init"],
            loss="margin", resc_schedule=True, seed=cfg["seed"])


__all__ = ["FABT", "Square", "torchattacks_module"]
