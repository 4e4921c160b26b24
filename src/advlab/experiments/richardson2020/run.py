"""``run``: every stage of the recipe through the run store, then results, figures, report.

Stage folders (``<p>`` is the pair, e.g. ``0-6``)::

    <p>/synthetic                      MFA fit, symmetric / asymmetric densities and data
    <p>/<variant>/<model>              one model trained / fitted and attacked
    <p>/sweep/width-<w>, samples-<n>, noise-<std>   Figures 9 and 10 (first pair only)
    <p>/real/<model>                   Appendix D.4: models on the real images (first pair)
    <p>/models/<variant>/allconv-w<w>  CNN training runs shared by the width search and
                                       the width sweep (resumed by advlab.train)
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from advlab.experiments.richardson2020 import stages as st
from advlab.experiments.richardson2020.config import RichardsonConfig, make_config
from advlab.experiments.richardson2020.synth import VARIANTS, build_synthetic
from advlab.store import RunDir, seed_everything

TAG = "[richardson2020]"
Step = tuple[str, Callable[[Path], Any], tuple[str, ...]]


def command_line(out: str | Path, cfg: RichardsonConfig, overrides: dict[str, Any]) -> str:
    """The command that reproduces a run (presets plus explicit overrides)."""
    import json

    parts = ["advlab", "reproduce", "richardson2020", "--dataset", cfg.dataset,
             "--pairs", ",".join(cfg.pairs), "--scale", cfg.scale, "--seed", str(cfg.seed),
             "--out", str(out)]
    for k, v in sorted(overrides.items()):
        parts += ["--set", f"{k}={json.dumps(list(v) if isinstance(v, tuple) else v)}"]
    return shlex.join(parts)


def _pair_steps(cfg: RichardsonConfig, pair: str, first: bool, state: dict[str, Any],
                data_root: str | None, device: str, root: Path) -> list[Step]:
    """The stages of one pair, in order; results land in ``state`` under the given keys."""
    p = pair
    syn, models_dir = root / p / "synthetic", root / p / "models"
    steps: list[Step] = [(f"{p}/synthetic", partial(build_synthetic, cfg=cfg, pair=pair,
                                                    data_root=data_root, device=device), ("synthetic",))]
    for v in VARIANTS:
        steps.append((f"{p}/{v}/bayes_optimal", partial(st.bayes_stage, syn_dir=syn, variant=v, cfg=cfg),
                      (v, "bayes_optimal")))
        if v == "asymmetric" and not cfg.models_on_asymmetric:
            continue
        steps += [
            (f"{p}/{v}/cnn", partial(st.cnn_stage, syn_dir=syn, models_dir=models_dir, variant=v,
                                     cfg=cfg, device=device), (v, "cnn")),
            (f"{p}/{v}/linear_svm", partial(st.svm_stage, syn_dir=syn, variant=v, kind="linear_svm",
                                            cfg=cfg), (v, "linear_svm")),
            (f"{p}/{v}/rbf_svm", partial(st.svm_stage, syn_dir=syn, variant=v, kind="rbf_svm",
                                         cfg=cfg), (v, "rbf_svm")),
        ]
        if cfg.trades:
            steps.append((f"{p}/{v}/trades_cnn", partial(_trades, syn=syn, variant=v, cfg=cfg,
                                                         state=state, device=device), (v, "trades_cnn")))
    return steps if not first else steps + _first_pair_steps(cfg, pair, state, data_root, device, root)


def _trades(d: Path, syn: Path, variant: str, cfg: RichardsonConfig, state: dict[str, Any],
            device: str) -> dict[str, Any]:
    return st.trades_stage(d, syn, variant, int(state[variant]["cnn"]["width"]), cfg, device)


def _first_pair_steps(cfg: RichardsonConfig, pair: str, state: dict[str, Any],
                      data_root: str | None, device: str, root: Path) -> list[Step]:
    """Sweeps (Figures 9, 10) and real-data models (App. D.4), run on the first pair only."""
    p, syn, models_dir = pair, root / pair / "synthetic", root / pair / "models"

    def at_width(fn: Callable[..., Any], **kw: Any) -> Callable[[Path], Any]:
        return lambda d: fn(d, width=int(state["symmetric"]["cnn"]["width"]), **kw)

    steps: list[Step] = []
    for w in cfg.sweep_widths:
        steps.append((f"{p}/sweep/width-{w}", partial(st.width_sweep_stage, syn_dir=syn, models_dir=models_dir,
                                                      width=w, cfg=cfg, device=device), ("sweep_width", str(w))))
    for n in cfg.sweep_samples_total:
        steps.append((f"{p}/sweep/samples-{n}", at_width(st.samples_sweep_stage, syn_dir=syn, n_total=n,
                                                          cfg=cfg, device=device), ("sweep_samples", str(n))))
    for s in cfg.sweep_noise_stds:
        if s != cfg.symmetric_noise_std:
            steps.append((f"{p}/sweep/noise-{s:g}", at_width(st.noise_sweep_stage, syn_dir=syn, std=s,
                                                              cfg=cfg, device=device), ("sweep_noise", f"{s:g}")))
    if cfg.real_data:
        for kind in ("cnn", "linear_svm", "rbf_svm"):
            steps.append((f"{p}/real/{kind}", at_width(st.real_stage, kind=kind, cfg=cfg, pair=pair,
                                                        data_root=data_root, device=device), ("real", kind)))
    return steps


def _put(state: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    for k in keys[:-1]:
        state = state.setdefault(k, {})
    state[keys[-1]] = value


def execute(run_dir: RunDir, cfg: RichardsonConfig, data_root: str | None, device: str
            ) -> dict[str, dict[str, Any]]:
    """Run (or read back) every stage of every pair; return ``{pair: state}``."""
    states: dict[str, dict[str, Any]] = {pair: {} for pair in cfg.pairs}
    plan: list[tuple[str, Step]] = []
    for i, pair in enumerate(cfg.pairs):
        plan += [(pair, s) for s in _pair_steps(cfg, pair, i == 0, states[pair], data_root, device,
                                                run_dir.root)]
    t0 = time.monotonic()
    for i, (pair, (name, fn, keys)) in enumerate(plan, 1):
        cached = run_dir.is_done(name)
        print(f"{TAG} stage {i}/{len(plan)}: {name} ({'cached' if cached else 'running'}; "
              f"{time.monotonic() - t0:.0f}s elapsed)", file=sys.stderr, flush=True)
        seed_everything(cfg.seed)
        _put(states[pair], keys, run_dir.stage(name, fn))
    return states


def _check_same_config(run_dir: RunDir, cfg: RichardsonConfig) -> None:
    """Refuse to resume a folder whose completed stages were made with other settings."""
    from advlab.errors import AdvlabError
    from advlab.store import read_json, to_jsonable

    path = run_dir.path("config.json")
    if not path.exists():
        return
    before = read_json(path).get("config")
    if before is not None and before != to_jsonable(asdict(cfg)):
        changed = sorted(k for k in before if before.get(k) != to_jsonable(asdict(cfg)).get(k))
        raise AdvlabError(f"--out: {str(run_dir.root)!r} holds a run with other settings "
                          f"({', '.join(changed)}); use --force to recompute or another --out")


def run(out: str | Path, *, dataset: str, scale: str = "quick", seed: int = 0, device: str = "cpu",
        force: bool = False, data_root: str | None = None, pairs: str | None = None,
        **overrides: Any) -> dict[str, Any]:
    """Reproduce the Bayes-optimal paper's experiments into ``out``; return results.json's dict.

    Args:
        out: run folder (resumed when it holds completed stages; ``force`` clears it).
        dataset: mnist5k | fashion-mnist | mnist | celeba.
        scale: tiny (CI) | quick | medium | full.
        pairs: "0-6,2-7" (CelebA: attribute names); default: the dataset's pairs
            (quick / tiny: the first one).
        **overrides: any :class:`RichardsonConfig` field, e.g. ``n_train=500``.
    """
    from advlab.experiments.richardson2020.report import write_outputs

    cfg = make_config(dataset, scale, seed, pairs, **overrides)
    run_dir = RunDir(out, force=False)
    if force:
        run_dir.clear()
    else:
        _check_same_config(run_dir, cfg)
    t0 = time.monotonic()
    command = command_line(out, cfg, overrides)
    run_dir.write_config({"recipe": "richardson2020", "command": command, "seed": seed,
                          "device": device, "data_root": data_root, "config": asdict(cfg)})
    states = execute(run_dir, cfg, data_root, device)
    return write_outputs(run_dir, cfg, states, command, time.monotonic() - t0)
