"""SVMs exported as torch modules: equal to scikit-learn's decision_function, smooth
input gradients (gradcheck), closed-form gradients, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import advlab
from advlab.errors import AdvlabError
from advlab.models import fit_svm, save_checkpoint


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = advlab.load_dataset("digits", "train")
    return x[:300], y[:300]


def _binary(digits: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = digits
    keep = (y == 3) | (y == 8)
    return x[keep], (y[keep] == 8).long()


@pytest.mark.parametrize("kind", ["linear", "rbf"])
def test_binary_logit_difference_equals_decision_function(digits, kind: str) -> None:  # type: ignore[no-untyped-def]
    x, y = _binary(digits)
    svm = fit_svm(x, y, kind=kind, C=1.0)
    ref = svm.estimator.decision_function(x.flatten(1).double().numpy())
    logits = svm(x.double()).detach().numpy()
    assert logits.shape == (len(x), 2)
    np.testing.assert_allclose(logits[:, 1] - logits[:, 0], ref, atol=1e-5)
    np.testing.assert_allclose(logits[:, 0], -logits[:, 1])
    # float32 input: same decisions, float32 logits
    assert svm(x).dtype == torch.float32
    np.testing.assert_allclose((svm(x)[:, 1] - svm(x)[:, 0]).numpy(), ref, atol=1e-4)


@pytest.mark.parametrize("kind", ["linear", "rbf"])
def test_multiclass_logits_are_one_vs_rest_decisions(digits, kind: str) -> None:  # type: ignore[no-untyped-def]
    x, y = digits
    svm = fit_svm(x, y, kind=kind, gamma=0.05)
    ref = svm.estimator.decision_function(x.flatten(1).double().numpy())
    assert ref.shape == (len(x), 10)
    np.testing.assert_allclose(svm(x.double()).detach().numpy(), ref, atol=1e-5)
    acc = (svm(x).argmax(1) == y).float().mean().item()
    assert acc == pytest.approx(float((svm.estimator.predict(x.flatten(1).double().numpy()) == y.numpy()).mean()))


@pytest.mark.parametrize("kind", ["linear", "rbf"])
def test_input_gradients_pass_gradcheck(digits, kind: str) -> None:  # type: ignore[no-untyped-def]
    x, y = _binary(digits)
    svm = fit_svm(x, y, kind=kind)
    xx = x[:2].double().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(svm, (xx,), eps=1e-6, atol=1e-6)
    auto = torch.autograd.grad(svm.decision(xx).sum(), xx)[0]
    torch.testing.assert_close(svm.decision_grad(xx), auto)


def test_linear_svm_gradient_is_constant_weight_vector(digits) -> None:  # type: ignore[no-untyped-def]
    x, y = _binary(digits)
    svm = fit_svm(x, y, kind="linear")
    g = svm.decision_grad(x[:5].double())
    w = torch.from_numpy(svm.estimator.coef_[0].copy()).view(1, *x.shape[1:])
    torch.testing.assert_close(g, w.expand_as(g))


def test_gamma_is_resolved_and_exposed(digits) -> None:  # type: ignore[no-untyped-def]
    x, y = _binary(digits)
    z = x.flatten(1).double()
    assert fit_svm(x, y, kind="rbf", gamma="scale").gamma == pytest.approx(1 / (z.shape[1] * z.var(unbiased=False).item()))
    assert fit_svm(x, y, kind="rbf", gamma=0.3).gamma == pytest.approx(0.3)
    with pytest.raises(AdvlabError, match="gamma: got -1"):
        fit_svm(x, y, kind="rbf", gamma=-1)


def test_svm_checkpoint_roundtrip(digits, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    x, y = digits
    svm = fit_svm(x, y, kind="rbf", gamma=0.05)
    save_checkpoint(tmp_path / "svm", svm, {"note": "rbf"})
    back = advlab.load_model(tmp_path / "svm")
    assert back.config == svm.config and back.gamma == svm.gamma
    torch.testing.assert_close(back(x), svm(x))


def test_svm_params_take_no_gradient(digits) -> None:  # type: ignore[no-untyped-def]
    x, y = _binary(digits)
    svm = fit_svm(x, y, kind="rbf")
    assert all(not p.requires_grad for p in svm.parameters())
