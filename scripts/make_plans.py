"""The cost plans of the paper-scale presets, as committed raw files (docs/scale.md).

Each plan is exactly what ``advlab reproduce RECIPE --scale full ... --plan --json``
prints; this script writes them atomically with the command that reproduces each, and
the rendered table beside it (``.txt``):

    .venv/bin/python scripts/make_plans.py --out docs/results/plans

ilyas2019 on CIFAR-10 and on Restricted ImageNet; richardson2020 on MNIST (its three
pairs) and on CelebA (its five attributes). No data files are read (sizes from the
registry; see each plan's notes).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advlab.experiments.ilyas2019.config import resolve_config
from advlab.experiments.ilyas2019.plan import make_plan as ilyas_plan
from advlab.experiments.plan import render
from advlab.experiments.richardson2020.config import make_config
from advlab.experiments.richardson2020.plan import make_plan as richardson_plan
from advlab.store import atomic_write_json, atomic_write_text

PLANS: dict[str, tuple[str, Any]] = {
    "ilyas2019-cifar10": ("advlab reproduce ilyas2019 --scale full --plan --json",
                          lambda: ilyas_plan(resolve_config("cifar10", "full"))),
    "ilyas2019-restricted-imagenet": (
        "advlab reproduce ilyas2019 --scale full --dataset restricted-imagenet --plan --json",
        lambda: ilyas_plan(resolve_config("restricted-imagenet", "full"))),
    "richardson2020-mnist": ("advlab reproduce richardson2020 --dataset mnist --scale full --plan --json",
                             lambda: richardson_plan(make_config("mnist", "full"))),
    "richardson2020-celeba": ("advlab reproduce richardson2020 --dataset celeba --scale full --plan --json",
                              lambda: richardson_plan(make_config("celeba", "full"))),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/results/plans"))
    parser.add_argument("--only", nargs="*", default=list(PLANS), choices=list(PLANS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only:
        command, make = PLANS[name]
        plan = {"command": command, **make()}
        atomic_write_json(args.out / f"{name}.json", plan)
        atomic_write_text(args.out / f"{name}.txt", f"$ {command.removesuffix(' --json')}\n{render(plan)}\n")
        t = plan["totals"]
        print(f"{name}: {t['gpu_hours']:.1f} A100-hours (bf16 {t['gpu_hours_bf16']:.1f}) + "
              f"{t['cpu_hours_in_gpu_run']:.0f} CPU-hours on the CPU; plan made in {plan['seconds']} s")


if __name__ == "__main__":
    main()
