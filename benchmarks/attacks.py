"""Benchmark: advlab PGD-L2 vs torchattacks PGDL2 on the mnist5k standard CNN.

Two measurements, both libraries in the same process on the same model and points:

1. robust-accuracy evaluation (eps 1 and 2, 20 steps, step 2.5*eps/20, no random start on
   either side so that both compute the same attack): advlab's ``PGD`` drops fooled
   samples from the batch (early stop); torchattacks attacks every sample for every step.
2. raw throughput with every sample attacked (``pgd_perturb``), image-steps per second.

Both sides get the same points in the same batches (``--batch-size``, default all points at
once). The two sides alternate (A B B A A B ...: each repetition swaps who goes first) and
the medians are reported, so that load on the shared machine hits both sides alike; the
ratio is the median of the per-repetition ratios.

Usage: OMP_NUM_THREADS=1 python benchmarks/attacks.py [--checkpoint DIR] [--n 1000]
       [--threads 1] [--repeats 5] [--batch-size N]
Prints a table and the ratios; writes benchmarks/results/attacks.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

import advlab
from advlab.attacks import PGD, pgd_perturb
from advlab.store import atomic_write_json


def quick_cnn(seed: int = 0, epochs: int = 3) -> torch.nn.Module:
    """The standard small CNN trained on mnist5k (Adam 1e-3, batch 64)."""
    from advlab.models import build_model

    torch.manual_seed(seed)
    x, y = advlab.load_dataset("mnist5k", "train")
    model = build_model("cnn", in_shape=(1, 28, 28), num_classes=10)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            b = perm[i:i + 64]
            opt.zero_grad()
            F.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
    return model.eval()


def interleaved(fa: Callable[[], object], fb: Callable[[], object], repeats: int
                ) -> tuple[object, object, list[float], list[float]]:
    """Time ``fa`` and ``fb`` alternately (A B, then B A, ...); return both last outputs and
    the lists of wall times."""
    ta: list[float] = []
    tb: list[float] = []
    out_a = out_b = None
    for r in range(repeats):
        order = [(fa, ta, "a"), (fb, tb, "b")]
        for fn, times, key in (order if r % 2 == 0 else order[::-1]):
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
            out_a, out_b = (out, out_b) if key == "a" else (out_a, out)
    return out_a, out_b, ta, tb


def median_ratio(slow: list[float], fast: list[float]) -> float:
    """Median over repetitions of ``slow[i] / fast[i]`` (pairs measured back to back)."""
    return statistics.median(s / f for s, f in zip(slow, fast, strict=True))


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def batched(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor,
            y: torch.Tensor, bs: int) -> torch.Tensor:
    return torch.cat([fn(x[i:i + bs], y[i:i + bs]) for i in range(0, len(x), bs)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repetitions (medians)")
    ap.add_argument("--batch-size", type=int, default=None, help="both sides (default: all)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "attacks.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import torchattacks

    model = advlab.load_model(args.checkpoint) if args.checkpoint else quick_cnn()
    x, y = advlab.load_dataset("mnist5k", "test")
    x, y = x[:args.n], y[:args.n]
    bs = args.batch_size or len(x)
    steps, eps_list = args.steps, [1.0, 2.0]
    res: dict = {"n": len(x), "steps": steps, "threads": args.threads, "batch_size": bs,
                 "repeats": args.repeats, "clean_accuracy": accuracy(model, x, y), "eps": {}}
    # robust-accuracy evaluation: advlab one call over the eps list (nested balls: points
    # fooled at eps 1 are not attacked again at eps 2); torchattacks one run per eps
    attack = PGD(norm="l2", steps=steps, rel_step=2.5, random_start=False, batch_size=bs)
    peers = {e: torchattacks.PGDL2(model, eps=e, alpha=2.5 * e / steps, steps=steps,
                                   random_start=False) for e in eps_list}
    ours, theirs, t_o, t_t = interleaved(
        lambda: attack(model, x, y, eps=eps_list),
        lambda: {e: batched(peers[e], x, y, bs) for e in eps_list}, args.repeats)
    rows = []
    for e in eps_list:
        acc_o, acc_t = 1 - ours.per_eps[e].success_rate, accuracy(model, theirs[e], y)  # type: ignore[attr-defined,index]
        res["eps"][f"{e:g}"] = {"acc_advlab": acc_o, "acc_torchattacks": acc_t}
        rows.append((f"robust acc eps={e:g}", f"{acc_o:.4f}", f"{acc_t:.4f}", "", "", ""))
    res["eval"] = {"s_advlab": t_o, "s_torchattacks": t_t, "median_s_advlab": statistics.median(t_o),
                   "median_s_torchattacks": statistics.median(t_t), "speedup": median_ratio(t_t, t_o)}
    res["eval_speedup"] = res["eval"]["speedup"]
    rows.append(("eval time eps 1+2", "", "", f"{statistics.median(t_o):.1f}s",
                 f"{statistics.median(t_t):.1f}s", f"{res['eval_speedup']:.2f}x"))
    # raw throughput: every sample, every step, eps 2
    ta = torchattacks.PGDL2(model, eps=2.0, alpha=0.25, steps=steps, random_start=False)
    raw = lambda xb, yb: pgd_perturb(model, xb, yb, norm="l2", eps=2.0, steps=steps,  # noqa: E731
                                     step_size=0.25, random_start=False)
    xo, xt, r_o, r_t = interleaved(lambda: batched(raw, x, y, bs), lambda: batched(ta, x, y, bs),
                                   args.repeats)
    ratio = median_ratio(r_t, r_o)  # throughput ratio = time ratio
    ips_o, ips_t = len(x) * steps / statistics.median(r_o), len(x) * steps / statistics.median(r_t)
    res["raw"] = {"img_steps_per_s_advlab": ips_o, "img_steps_per_s_torchattacks": ips_t,
                  "s_advlab": r_o, "s_torchattacks": r_t, "ratio": ratio,
                  "max_abs_diff_x_adv": float((xo - xt).abs().max())}  # type: ignore[operator]
    rows.append(("raw PGD img*steps/s", f"{ips_o:.0f}", f"{ips_t:.0f}", f"{statistics.median(r_o):.1f}s",
                 f"{statistics.median(r_t):.1f}s", f"{ratio:.2f}x"))
    print(f"{'measurement':24s} {'advlab':>8s} {'torchatt':>8s} {'t_advlab':>9s} {'t_ta':>8s} {'ratio':>7s}")
    for r in rows:
        print(f"{r[0]:24s} {r[1]:>8s} {r[2]:>8s} {r[3]:>9s} {r[4]:>8s} {r[5]:>7s}")
    print(f"medians of {args.repeats} interleaved repetitions, batch {bs}, {args.threads} thread(s)")
    print(f"robust-accuracy evaluation speedup (eps 1+2): {res['eval_speedup']:.2f}x "
          f"(target >= 1.5x); raw throughput ratio: {ratio:.2f}x (target >= 0.95x)")
    atomic_write_json(args.out, res)
    print(json.dumps({"eval_speedup": res["eval_speedup"], "raw_ratio": ratio}))


if __name__ == "__main__":
    main()
