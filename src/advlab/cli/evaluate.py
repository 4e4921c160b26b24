"""``advlab evaluate``: clean and PGD robust accuracy of a checkpoint on a dataset."""

from __future__ import annotations

import shlex
import sys
import warnings
from typing import Any

import click

from advlab.cli._common import (
    data_root_env,
    data_root_option,
    device_option,
    echo_json,
    force_option,
    json_option,
    out_option,
    resolve_device,
    seed_option,
)
from advlab.errors import AdvlabError


def parse_eps_list(spec: str | None) -> list[float]:
    """``"1,2"`` -> ``[1.0, 2.0]``; None or empty -> ``[]``. Raises AdvlabError otherwise."""
    if not spec:
        return []
    try:
        values = [float(s) for s in spec.split(",") if s.strip()]
    except ValueError:
        raise AdvlabError(f"--eps: got {spec!r}; expected comma-separated numbers >= 0, "
                          "e.g. 0.5,1,2") from None
    if not values or any(not (v >= 0) or v == float("inf") for v in values):
        raise AdvlabError(f"--eps: got {spec!r}; expected comma-separated finite numbers >= 0")
    return values


def load_points(checkpoint: str, dataset: str, split: str, n: int | None, seed: int,
                data_root: str | None, device: str) -> tuple[Any, Any, Any]:
    """Load the model and ``n`` points of the split (a seeded random subset); on ``device``."""
    import torch

    import advlab

    if n is not None and n < 1:
        raise AdvlabError(f"--n: got {n}; expected a number of points >= 1")
    model = advlab.load_model(checkpoint, device=device)
    x, y = advlab.load_dataset(dataset, split=split, data_root=data_root)
    if n is not None and n < len(x):
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
        x, y = x[idx], y[idx]
    return model, x.to(device), y.to(device)


def eps_key(eps: float) -> str:
    """The results.json key of an eps: ``1.0 -> "1"``, ``0.5 -> "0.5"``."""
    return f"{eps:g}"


def run_evaluate(cfg: dict[str, Any]) -> dict[str, Any]:
    """Clean accuracy and, if ``cfg["eps"]``, robust accuracy per eps; records check warnings."""
    from advlab.evaluate import SanityWarning, clean_accuracy, robust_accuracy
    from advlab.store import seed_everything

    seed_everything(cfg["seed"])
    model, x, y = load_points(cfg["checkpoint"], cfg["dataset"], cfg["split"], cfg["n"],
                              cfg["seed"], cfg["data_root"], cfg["device"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SanityWarning)
        out: dict[str, Any] = {"n": len(x), "clean_accuracy": clean_accuracy(model, x, y)}
        if cfg["eps"]:
            acc = robust_accuracy(model, x, y, norm=cfg["norm"], eps=cfg["eps"],
                                  steps=cfg["steps"], step_size=cfg["step_size"],
                                  restarts=cfg["restarts"], seed=cfg["seed"],
                                  checks=cfg["checks"])
            out["robust_accuracy"] = {eps_key(e): a for e, a in acc.items()}
    out["warnings"] = [str(w.message) for w in caught if issubclass(w.category, SanityWarning)]
    for msg in out["warnings"]:
        click.echo(f"advlab: warning: {msg}", err=True)
    return out


def cached(out_dir: str | None, force: bool, stage: str, cfg: dict[str, Any],
           fn: Any) -> tuple[dict[str, Any], Any]:
    """Run ``fn()`` inside ``out_dir`` as a resumable stage keyed by the config hash.

    Returns (results, RunDir or None); without ``out_dir`` just runs ``fn()``.
    """
    import hashlib
    import json

    from advlab.store import RunDir, to_jsonable

    if out_dir is None:
        return fn(), None
    run = RunDir(out_dir, force=force)
    key = hashlib.sha256(json.dumps(to_jsonable(cfg), sort_keys=True).encode()).hexdigest()[:10]
    results = run.stage(f"{stage}-{key}", lambda _d: fn())
    run.write_config(cfg)
    run.write_results(results)
    return results, run


def _write_report(run: Any, cfg: dict[str, Any], results: dict[str, Any]) -> None:
    from advlab.report import Report

    command = "advlab " + shlex.join(sys.argv[1:])
    rep = Report(f"Evaluation of {cfg['checkpoint']} on {cfg['dataset']}", command=command,
                 config=cfg)
    sec = rep.section("Accuracy")
    rows = [["clean", results["clean_accuracy"]]]
    rows += [[f"{cfg['norm']} eps={k}", v] for k, v in results.get("robust_accuracy", {}).items()]
    sec.table(["attack", "accuracy"], rows, caption=f"{results['n']} points, PGD-{cfg['steps']}, "
              f"{cfg['restarts']} restart(s)")
    for msg in results["warnings"]:
        sec.text(f"**Warning:** {msg}")
    rep.section("Provenance").provenance(command, cfg, cfg["seed"])
    rep.write(run.root)


@click.command("evaluate")
@click.option("--checkpoint", required=True, type=click.Path(), help="Checkpoint folder.")
@click.option("--dataset", required=True, help="Dataset name (see `advlab datasets list`).")
@click.option("--split", default="test", show_default=True, help="Split to evaluate on.")
@click.option("--eps", "eps_spec", default=None, help="Comma-separated radii, e.g. 1,2 (none: clean only).")
@click.option("--norm", type=click.Choice(["l2", "linf"]), default="l2", show_default=True)
@click.option("--steps", type=click.IntRange(min=0), default=20, show_default=True)
@click.option("--step-size", type=float, default=None, help="Default 2.5*eps/steps.")
@click.option("--restarts", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--n", type=int, default=None, help="Evaluate a seeded random subset of N points.")
@click.option("--no-checks", is_flag=True, help="Skip the automatic sanity checks.")
@seed_option
@device_option
@data_root_option
@out_option(required=False)
@force_option
@json_option
def command(checkpoint: str, dataset: str, split: str, eps_spec: str | None, norm: str,
            steps: int, step_size: float | None, restarts: int, n: int | None, no_checks: bool,
            seed: int, device: str, data_root: str | None, out: str | None, force: bool,
            as_json: bool) -> None:
    """Clean accuracy and PGD robust accuracy (untargeted) of a checkpoint."""
    cfg = {"checkpoint": checkpoint, "dataset": dataset, "split": split,
           "eps": parse_eps_list(eps_spec), "norm": norm, "steps": steps,
           "step_size": step_size, "restarts": restarts, "n": n, "checks": not no_checks,
           "seed": seed, "device": resolve_device(device), "data_root": data_root_env(data_root)}
    results, run = cached(out, force, "evaluate", cfg, lambda: run_evaluate(cfg))
    if run is not None:
        _write_report(run, cfg, results)
    if as_json:
        echo_json(results)
    else:
        click.echo(f"clean accuracy: {results['clean_accuracy']:.4f} ({results['n']} points)")
        for k, v in results.get("robust_accuracy", {}).items():
            click.echo(f"robust accuracy {norm} eps={k}: {v:.4f}")
