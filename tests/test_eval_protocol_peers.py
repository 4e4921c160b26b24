"""The default robust-accuracy protocol is at least as strong as torchattacks PGD.

Peer table on the shared mnist5k CNN (200 test points): L2 eps 0.5, 1, 1.5 and 2, 20 and 40
steps, against torchattacks ``PGDL2`` with step eps/4 and eps/10, with and without random
start; each cell asserts ours <= peer + 0.5 points. The peer is per-sample, so its robust
count is computed in two parts: on the points ours leaves robust (k of them it fools), and,
only when k is more than the tolerance, on the points ours fools (m of them it does not),
since ours - peer = (k - m) / N. The full table at 1,000 points is
benchmarks/eval_protocol.py (benchmarks/results/eval_protocol.json).
"""

from __future__ import annotations

import pytest
import torch

import advlab
from advlab.evaluate import robust_flags
from advlab.seeding import seeded_subset

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.peers]

N = 200
EPS = (0.5, 1.0, 1.5, 2.0)
STEPS = (20, 40)


@pytest.fixture(scope="module")
def points() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = advlab.load_dataset("mnist5k", "test")
    idx = seeded_subset(len(x), N, 0)
    return x[idx], y[idx]


@pytest.fixture(scope="module")
def ours(mnist5k_cnn, points) -> dict[int, dict[float, torch.Tensor]]:  # type: ignore[no-untyped-def]
    """Per-point robust flags of the default protocol, per steps and eps."""
    x, y = points
    return {s: robust_flags(mnist5k_cnn, x, y, norm="l2", eps=list(EPS), steps=s, checks=False)
            for s in STEPS}


def _peer_fools(model, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,  # type: ignore[no-untyped-def]
                divisor: int, random_start: bool) -> torch.Tensor:
    """(n,) bool: torchattacks PGDL2 (step eps/divisor) fools the point."""
    import torchattacks

    torch.manual_seed(0)
    atk = torchattacks.PGDL2(model, eps=eps, alpha=eps / divisor, steps=steps,
                             random_start=random_start)
    x_adv = atk(x, y)
    with torch.no_grad():
        return model(x_adv).argmax(1) != y


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("divisor", [4, 10])
@pytest.mark.parametrize("random_start", [False, True])
def test_default_protocol_is_at_least_as_strong_as_torchattacks_pgd(  # type: ignore[no-untyped-def]
        mnist5k_cnn, points, ours, steps: int, divisor: int, random_start: bool) -> None:
    pytest.importorskip("torchattacks")
    x, y = points
    tol = 0.005 * N  # 0.5 points, in points
    for eps in EPS:
        mine = ours[steps][eps]
        kept = torch.nonzero(mine).flatten()
        k = int(_peer_fools(mnist5k_cnn, x[kept], y[kept], eps, steps, divisor,
                            random_start).sum())
        m = 0
        if k > tol:
            fooled = torch.nonzero(~mine).flatten()
            m = int((~_peer_fools(mnist5k_cnn, x[fooled], y[fooled], eps, steps, divisor,
                                  random_start)).sum())
        assert k - m <= tol, (eps, f"ours {float(mine.float().mean()):.3f}", k, m)
