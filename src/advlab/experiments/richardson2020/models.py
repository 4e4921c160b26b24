"""The compared models (Appendix B.3-B.5, D.3), built with the library.

* CNN: the all-conv CNN (``allconv``) trained with Adam by :func:`advlab.train.train`;
  the width is the smallest of ``cnn_widths`` whose validation accuracy reaches
  ``cnn_target_accuracy`` (the paper: "the minimal number of filters that achieves 100%").
* linear SVM: :func:`advlab.models.fit_svm` (sklearn ``SVC(kernel="linear")``).
* RBF SVM: the largest gamma of ``svm_gammas`` (in units of sklearn's ``"scale"``,
  ``1 / (D Var x)``) whose validation accuracy reaches ``rbf_min_accuracy``.
* TRADES CNN: the selected all-conv CNN trained with TRADES (Zhang et al. 2019), beta 10.

Selection uses a validation set (fresh samples of the synthetic distribution, or a
held-out part of the real training set), never the test set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from torch import Tensor, nn

from advlab.evaluate import clean_accuracy
from advlab.experiments.richardson2020.config import RichardsonConfig
from advlab.models import fit_svm
from advlab.train import AdvConfig, TrainConfig, train

Data = tuple[Tensor, Tensor]
K = TypeVar("K", int, float)


def train_cnn(d: Path, train_data: Data, val_data: Data, *, width: int, cfg: RichardsonConfig,
              device: str, epochs: int | None = None, adversarial: AdvConfig | None = None,
              label: str = "synthetic") -> tuple[nn.Module, float]:
    """Train the all-conv CNN (resumable in ``d``); return (model in eval mode, on ``device``,
    where it is attacked too; val accuracy)."""
    tc = TrainConfig(dataset=label, model="allconv", model_kwargs={"width": int(width)},
                     epochs=epochs or cfg.cnn_epochs, batch_size=cfg.cnn_batch_size,
                     optimizer="adam", lr=cfg.cnn_lr, seed=cfg.seed, device=device,
                     adversarial=adversarial)
    res = train(tc, d, train_data=train_data, test_data=val_data)
    model = res.model.eval()
    return model, float(res.final["test_acc"])


def first_reaching(candidates: Sequence[K], fit: Callable[[K], tuple[nn.Module, float]],
                   target: float) -> tuple[K, nn.Module, float, list[float]]:
    """Fit the candidates in order, stopping at the first whose validation accuracy reaches
    ``target``; if none does, keep the most accurate (the first of equals).

    Returns:
        (candidate, model, its accuracy, the accuracies of the candidates fitted, in order).
    """
    best: tuple[K, nn.Module, float] | None = None
    accs: list[float] = []
    for c in candidates:
        model, acc = fit(c)
        accs.append(acc)
        if best is None or acc > best[2]:
            best = (c, model, acc)
        if acc >= target:
            break
    assert best is not None  # the candidate lists are validated non-empty
    return best[0], best[1], best[2], accs


def select_cnn(d: Path, train_data: Data, val_data: Data, cfg: RichardsonConfig, device: str,
               label: str = "synthetic") -> tuple[nn.Module, dict[str, Any]]:
    """Width search: the smallest width reaching the target accuracy (else the most accurate).

    Returns:
        (model, info) with ``info = {"width", "val_accuracy", "search": [[width, acc], ...]}``.
    """
    widths = sorted(cfg.cnn_widths)

    def fit(w: int) -> tuple[nn.Module, float]:
        return train_cnn(d / f"allconv-w{w}", train_data, val_data, width=w, cfg=cfg,
                         device=device, label=label)

    width, model, acc, accs = first_reaching(widths, fit, cfg.cnn_target_accuracy)
    return model, {"width": width, "val_accuracy": acc, "search": [[w, a] for w, a in zip(widths, accs, strict=False)]}


def train_trades(d: Path, train_data: Data, val_data: Data, width: int, cfg: RichardsonConfig,
                 device: str) -> nn.Module:
    """The TRADES CNN (App. D.3): L2 ball of radius ``trades_eps``, beta ``trades_beta``.

    Trained on synthetic MFA samples, which leave [0, 1]: the inner maximisation is not
    clipped to a box (clipping would pull it off the data's density; docs/bayes.md).
    """
    adv = AdvConfig(kind="trades", norm="l2", eps=cfg.trades_eps, steps=cfg.trades_steps,
                    step_size=2.5 * cfg.trades_eps / cfg.trades_steps, beta=cfg.trades_beta,
                    box="none")
    model, _ = train_cnn(d, train_data, val_data, width=width, cfg=cfg, device=device,
                         epochs=cfg.trades_epochs, adversarial=adv)
    return model


def fit_linear(train_data: Data, cfg: RichardsonConfig) -> nn.Module:
    """The linear SVM on raw vectorised pixels."""
    return fit_svm(*train_data, kind="linear", C=cfg.svm_c)


def gamma_scale(x: Tensor) -> float:
    """sklearn's ``gamma="scale"``: 1 / (D * Var x) for x (N, C, H, W)."""
    return float(1.0 / (x[0].numel() * float(x.double().var())))


def select_rbf(train_data: Data, val_data: Data, cfg: RichardsonConfig
               ) -> tuple[nn.Module, dict[str, Any]]:
    """Gamma search: the largest gamma keeping ``rbf_min_accuracy`` (else the most accurate).

    Returns:
        (model, info) with ``info = {"gamma", "gamma_factor", "val_accuracy",
        "n_support", "search": [[factor, gamma, acc], ...]}``.
    """
    scale = gamma_scale(train_data[0])
    factors = sorted(cfg.svm_gammas, reverse=True)

    def fit(factor: float) -> tuple[nn.Module, float]:
        model = fit_svm(*train_data, kind="rbf", C=cfg.svm_c, gamma=factor * scale)
        return model, clean_accuracy(model, *val_data)

    factor, model, acc, accs = first_reaching(factors, fit, cfg.rbf_min_accuracy)
    search = [[f, f * scale, a] for f, a in zip(factors, accs, strict=False)]  # the candidates fitted
    support = model.support_vectors
    assert isinstance(support, Tensor)  # fit_svm returns an SVMModule
    return model, {"gamma": factor * scale, "gamma_factor": factor, "val_accuracy": acc,
                   "n_support": int(support.shape[0]), "search": search}
