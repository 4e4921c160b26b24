"""scikit-learn conventions shared by the Bayes estimators (:class:`MFA` and
:class:`BayesOptimalClassifier`): input validation, output types and the not-fitted error.

Inputs are either torch tensors (images (N, C, H, W) or flat (N, d); results come back as
tensors) or scikit-learn array-likes (NumPy arrays, lists, DataFrames: validated by
:func:`sklearn.utils.validation.validate_data`, 2-D only; results come back as NumPy arrays).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse
import torch
from sklearn.exceptions import NotFittedError as _SkNotFitted
from sklearn.utils.validation import validate_data
from torch import Tensor

from advlab.errors import AdvlabError, bad_argument


class NotFittedError(AdvlabError, _SkNotFitted):
    """An estimator used before ``fit``: an :class:`AdvlabError` and scikit-learn's
    ``NotFittedError`` (so ``sklearn.utils.validation.check_is_fitted`` idioms work)."""


def is_batch_source(x: Any) -> bool:
    """True for what :meth:`MFA.fit` streams itself: a tensor, a callable returning batches,
    a DataLoader-like iterable, or a list/tuple of tensor batches (or of (x, y) pairs)."""
    if isinstance(x, Tensor) or callable(x):
        return True
    if scipy.sparse.issparse(x):
        return False  # validate_data refuses it with scikit-learn's message
    if isinstance(x, (list, tuple)):
        first = x[0] if len(x) else None
        return isinstance(first, Tensor) or (
            isinstance(first, (list, tuple)) and len(first) > 0 and isinstance(first[0], Tensor))
    return not (isinstance(x, np.ndarray) or hasattr(x, "__array__")
                or hasattr(x, "__dataframe__"))


def array_to_tensor(estimator: Any, x: Any, *, reset: bool) -> Tensor:
    """Validate an array-like ``x`` (N, d) as scikit-learn does and copy it to a float64 tensor.

    ``reset=True`` (in ``fit``) records ``n_features_in_``; ``reset=False`` checks it.
    Raises ``ValueError`` (scikit-learn's messages) for 1-D, empty, NaN/inf, complex,
    sparse or object input.
    """
    arr = validate_data(estimator, x, reset=reset, dtype=(np.float64, np.float32))
    return torch.tensor(np.asarray(arr, dtype=np.float64))


def check_tensor(estimator: Any, x: Any, dim: int) -> None:
    """A tensor input of an already fitted estimator: (N, d) or (N, *shape) with d features."""
    if not isinstance(x, Tensor):
        raise bad_argument("x", type(x).__name__, "a torch.Tensor or a 2-D array-like")
    if x.ndim < 2 or x[0].numel() != dim:
        shape = getattr(estimator, "input_shape_", (dim,))
        raise bad_argument("x", tuple(x.shape), f"shape (N, {dim}) or (N, *{tuple(shape)}) "
                           f"(X has {x[0].numel() if x.ndim >= 2 else x.numel()} features, "
                           f"but {type(estimator).__name__} is expecting {dim} features)")


def as_output(result: Tensor, like: Any) -> Any:
    """``result`` as a tensor when the input ``like`` was a tensor, else as a NumPy array."""
    if isinstance(like, Tensor):
        return result
    return result.detach().cpu().numpy()


def seed_from(random_state: Any) -> int | None:
    """An integer seed from ``random_state`` (int, NumPy RandomState / Generator, or None)."""
    if random_state is None:
        return None
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int32).max))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(random_state)
    raise bad_argument("random_state", random_state,
                       "an int, a torch.Generator, a numpy RandomState / Generator or None")


__all__ = ["NotFittedError", "array_to_tensor", "as_output", "check_tensor",
           "is_batch_source", "seed_from"]
