"""Shared pytest fixtures. Area-specific fixtures live in the area's own test modules."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def one_thread():  # type: ignore[no-untyped-def]
    """One intra-op thread for a module of tiny-model tests: on a loaded 2-core machine,
    two threads per small kernel oversubscribe the cores. Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---------------------------------------------------------------- models area (shared)


@pytest.fixture(scope="session")
def mnist5k_cnn_dir(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Run folder of a standard small CNN trained on mnist5k (seed 0, 3 epochs, ~96.5%).

    Trained once per test session by advlab's own trainer; holds last/ and results.json.
    """
    from advlab.train import TrainConfig, train

    out = tmp_path_factory.mktemp("mnist5k_cnn")
    cfg = TrainConfig(dataset="mnist5k", model="cnn", epochs=3, batch_size=64, lr=1e-3, seed=0,
                      checkpoint_every_seconds=1e9)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small kernels: one thread is as fast, and far faster under load
    try:
        train(cfg, out)
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="session")
def mnist5k_cnn(mnist5k_cnn_dir):  # type: ignore[no-untyped-def]
    """The standard small CNN of ``mnist5k_cnn_dir`` (eval mode, CPU; test acc >= 0.95).

    Session-scoped and shared: do not train it or change its weights in a test.
    """
    import advlab

    return advlab.load_model(mnist5k_cnn_dir / "last")


@pytest.fixture(scope="module")
def digits_mlp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small MLP trained on scikit-learn digits (3 epochs, seed 0); its ``last/`` checkpoint."""
    from advlab.train import TrainConfig, train

    out = tmp_path_factory.mktemp("digits_mlp")
    train(TrainConfig(dataset="digits", model="mlp", epochs=3, batch_size=64, seed=0,
                      checkpoint_every_seconds=1e9), out)
    return out / "last"
