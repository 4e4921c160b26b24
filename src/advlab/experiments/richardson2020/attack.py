"""Attacking one model: the unbounded minimum-L2 attacks of Appendix C, combined per point.

Each model gets one fast minimum-norm attack and, when ``use_cwl2`` is set, also CW-L2
(the paper's attack, Appendix C.1); each point keeps its smallest successful
perturbation (the strongest attack decides, as in any minimum-norm evaluation):

* Bayes-optimal: LD-Grad (Appendix C.2, closed form) [+ CW-L2].
* CNNs and the linear SVM: FMN [+ CW-L2].
* RBF SVM: FMN started at the nearest training point of the other class that the SVM
  assigns to that class (FMN bisects back to the boundary first) [+ CW-L2]: a Gaussian
  kernel's gradient vanishes far from the support vectors, so a plain gradient attack
  fails on many points (docs/richardson2020.md).

CW-L2 at the paper's constants (initial c = 0.01, 3 binary-search steps) never reaches
the boundary of the SVMs, whose decision values are O(1) while the squared distance to
the boundary is larger; FMN does not depend on that scale.

Definitions (results.json, Table 1, Figure 6):

* ``clean_accuracy``: accuracy on the whole synthetic (or real) test set.
* ``adversarial_accuracy``: on the attacked test points, the fraction still classified
  correctly after the unbounded attack, i.e. correctly classified *and* every attack
  failed (misclassified points count as errors). This is Table 1's bracketed number.
* ``mean_l2``: mean L2 norm of the perturbation over successful attacks on correctly
  classified points (the paper's definition, Section 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from advlab.attacks import CWL2, FMN, AttackResult
from advlab.attacks.threat import Box
from advlab.evaluate import clean_accuracy, min_norm_stats
from advlab.precision import follow_model, model_device


@dataclass(frozen=True)
class AttackSettings:
    """Attack hyper-parameters shared by every model of a run.

    Attributes:
        steps: FMN steps; cw_steps, binary_steps, lr: CW-L2 (paper: 500, 3, 0.01).
        use_cwl2: run CW-L2 besides the fast attack.
        ldgrad_steps: LD-Grad gradient steps (paper: "typically 3").
        box: None on synthetic data (MFA samples leave [0, 1]; nothing is clipped),
            (0, 1) on real images.
        batch_size: points per attack batch.
    """

    steps: int = 100
    use_cwl2: bool = True
    cw_steps: int = 500
    binary_steps: int = 3
    lr: float = 0.01
    ldgrad_steps: int = 3
    box: Box = None
    batch_size: int = 256


def combine(results: list[AttackResult]) -> AttackResult:
    """Per point, the successful result with the smallest norm (all on the same x, y).

    Shapes: every ``x_adv`` (N, C, H, W), ``norms`` / ``success`` (N,).
    """
    best = results[0]
    x_adv, norms, success = best.x_adv.clone(), best.norms.clone(), best.success.clone()
    for r in results[1:]:
        better = r.success & (r.norms < norms)
        x_adv[better], norms[better] = r.x_adv[better], r.norms[better]
        success |= r.success
    return AttackResult(x_adv, success, norms, "l2", None, best.clean_success)


def opposite_class_start(model: nn.Module, x: Tensor, y: Tensor, x_ref: Tensor, y_ref: Tensor,
                         batch_size: int = 512) -> Tensor:
    """For each x (N, C, H, W), the nearest ``x_ref`` point of the other class that ``model``
    assigns to that other class (x itself where there is none): FMN's ``init``.

    ``x_ref`` (M, C, H, W) / ``y_ref`` (M,) are reference points (the training set). Computed
    on the model's device; the starts come back on ``x``'s device.
    """
    home, dev = x.device, model_device(model) or x.device
    x, y, x_ref, y_ref = x.to(dev), y.to(dev), x_ref.to(dev), y_ref.to(dev)
    with torch.no_grad():
        pred = torch.cat([model(x_ref[i:i + batch_size]).argmax(1)
                          for i in range(0, len(x_ref), batch_size)])
        ok = pred == y_ref
        ref, ref_y = x_ref[ok].flatten(1), y_ref[ok]
        d = torch.cdist(x.flatten(1).to(ref.dtype), ref)  # (N, M')
        d[y[:, None] == ref_y[None, :]] = float("inf")
        j = d.argmin(1)
        has = torch.isfinite(d.gather(1, j[:, None]).squeeze(1))
        start = ref[j].view_as(x).to(x.dtype)
    return torch.where(has.view(-1, *[1] * (x.dim() - 1)), start, x).to(home)


def run_attacks(model: nn.Module, kind: str, x: Tensor, y: Tensor, s: AttackSettings,
                ref: tuple[Tensor, Tensor] | None = None) -> dict[str, AttackResult]:
    """Run the attacks of ``kind`` (bayes_optimal | cnn | linear_svm | rbf_svm | trades_cnn)
    on ``x`` (N, C, H, W), ``y`` (N,); returns ``{attack name: result}``."""
    out: dict[str, AttackResult] = {}
    if kind == "bayes_optimal":
        from advlab.bayes.ldgrad import LDGrad

        out["ldgrad"] = LDGrad(steps=s.ldgrad_steps, box=s.box)(model, x, y)
    else:
        fmn = FMN(steps=s.steps, box=s.box, batch_size=s.batch_size)
        init = opposite_class_start(model, x, y, *ref) if kind == "rbf_svm" and ref else None
        out["fmn"] = fmn(model, x, y, init=init)
    if s.use_cwl2:
        cw = CWL2(steps=s.cw_steps, search_steps=s.binary_steps, lr=s.lr, box=s.box,
                  batch_size=s.batch_size)
        out["cwl2"] = cw(model, x, y)
    return out


def evaluate_model(model: nn.Module, kind: str, x_test: Tensor, y_test: Tensor, n_attack: int,
                   s: AttackSettings, ref: tuple[Tensor, Tensor] | None = None,
                   device: str | None = None) -> tuple[dict[str, Any], AttackResult]:
    """Clean accuracy on the test set, then the attacks on its first ``n_attack`` points.

    The model is moved to ``device`` when given (the Bayes-optimal classifier and the SVMs
    are built on the CPU); the attacks run on the model's device, the points follow it, and
    the combined result lives there.

    Returns:
        (summary, combined result): summary holds ``clean_accuracy``,
        ``adversarial_accuracy``, ``mean_l2`` (see the module docstring), ``median_l2``,
        ``n_attacked``, ``success_rate``, ``frac_pixels_within_5``, the histogram of
        per-pixel changes, and ``per_attack`` (mean L2 and success rate of each attack).
    """
    model = (model if device is None else model.to(device)).eval()
    xa, ya = follow_model(model, x_test[:n_attack], y_test[:n_attack])
    assert xa is not None and ya is not None
    results = run_attacks(model, kind, xa, ya, s, ref)
    best = combine(list(results.values()))
    stats = min_norm_stats(best, xa)
    fooled_or_wrong = best.success | best.clean_success
    summary = {
        "clean_accuracy": clean_accuracy(model, x_test, y_test),
        "adversarial_accuracy": float((~fooled_or_wrong).float().mean()),
        "mean_l2": stats["mean_l2"],
        "median_l2": stats["median_l2"],
        "n_attacked": len(xa),
        "success_rate": stats["success_rate"],
        "frac_pixels_within_5": stats["frac_pixels_within_5"],
        "hist_counts": stats["hist_counts"],
        "hist_edges": stats["hist_edges"],
        "per_attack": {name: {k: min_norm_stats(r, xa)[k] for k in ("mean_l2", "success_rate")}
                       for name, r in results.items()},
    }
    return summary, best
