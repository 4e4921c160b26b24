"""Model selection of the Bayes-optimal recipe: the first candidate reaching the target."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from advlab.experiments.richardson2020.models import first_reaching


def _fitter(accs: dict[float, float], fitted: list[float]) -> Callable[[float], tuple[nn.Module, float]]:
    def fit(c: float) -> tuple[nn.Module, float]:
        fitted.append(c)
        return nn.Linear(1, 1), accs[c]
    return fit


def test_stops_at_the_first_candidate_reaching_the_target() -> None:
    fitted: list[float] = []
    c, _, acc, accs = first_reaching([1, 2, 3, 4], _fitter({1: 0.5, 2: 0.97, 3: 0.99, 4: 1.0}, fitted), 0.95)
    assert (c, acc, accs, fitted) == (2, 0.97, [0.5, 0.97], [1, 2])


def test_keeps_the_most_accurate_when_none_reaches_the_target() -> None:
    fitted: list[float] = []
    c, _, acc, accs = first_reaching([10.0, 3.0, 1.0], _fitter({10.0: 0.6, 3.0: 0.8, 1.0: 0.8}, fitted), 0.98)
    assert (c, acc, accs) == (3.0, 0.8, [0.6, 0.8, 0.8])  # the first of equals
    assert fitted == [10.0, 3.0, 1.0]
