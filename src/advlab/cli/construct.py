"""``advlab construct KIND``: build D_R, D_NR, D_rand or D_det as a dataset artifact.

Examples::

    advlab construct robust --source runs/robust-cnn --dataset mnist5k --out runs/d_r \\
        --steps 200 --step-size 0.1
    advlab construct det --source runs/cnn --dataset mnist5k --out runs/d_det --eps 2
    torchrun --standalone --nproc_per_node=2 --no-python -- advlab construct rand ...
"""

from __future__ import annotations

import click

from advlab.cli.options import (
    AdvlabCommand,
    data_root_env,
    data_root_option,
    device_option,
    echo_json,
    force_option,
    json_option,
    out_option,
    precision_options,
    resolve_device,
    seed_option,
    trust_unverified_option,
)


@click.command(cls=AdvlabCommand)
@click.argument("kind", type=click.Choice(["robust", "nonrobust", "rand", "det"]))
@click.option("--source", required=True, type=click.Path(),
              help="Source model: a checkpoint folder (or a run folder with best/ or last/).")
@click.option("--dataset", required=True, help="Source dataset name (or artifact folder).")
@click.option("--split", type=click.Choice(["train", "test"]), default="train", show_default=True,
              help="Which split to construct (a D_R test set: --split test).")
@click.option("--steps", type=int, default=None,
              help="Optimisation / PGD steps [default: Table 5 or 6 of the paper].")
@click.option("--step-size", type=float, default=None, help="L2 length of each normalised step.")
@click.option("--eps", type=float, default=None, help="rand/det: L2 radius of the perturbation.")
@click.option("--init", type=click.Choice(["image", "noise"]), default=None,
              help="robust/nonrobust: start from another image (default) or Gaussian noise.")
@click.option("--noise-std", type=float, default=0.25, show_default=True,
              help="Std of the Gaussian start around 0.5 (--init noise).")
@click.option("--random-start", is_flag=True, help="rand/det: start PGD inside the eps ball.")
@click.option("--shard-size", type=int, default=1000, show_default=True,
              help="Samples per shard (unit of resumption and of torchrun parallelism).")
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--n", "n", type=int, default=None, help="Construct a seeded random subset of N samples.")
@trust_unverified_option
@seed_option
@device_option
@data_root_option
@out_option()
@force_option
@json_option
@precision_options
def command(kind: str, source: str, dataset: str, split: str, steps: int | None,
            step_size: float | None, eps: float | None, init: str | None, noise_std: float,
            random_start: bool, shard_size: int, batch_size: int, n: int | None,
            trust_unverified: bool, seed: int, device: str, data_root: str | None, out: str,
            force: bool, as_json: bool, precision: str, channels_last: bool,
            compile_model: bool) -> None:
    """Construct a features-paper dataset (Ilyas et al. 2019, Sections 3.1-3.2).

    KIND is robust / nonrobust (representation inversion of a robust / standard model:
    D_R, D_NR) or rand / det (targeted L2 PGD relabelling: D_rand, D_det). The result in
    --out is a dataset artifact (advlab.load_dataset(OUT)); rerunning resumes.
    """
    from advlab.data.artifact import read_card
    from advlab.features import construct_dataset
    from advlab.features.shards import dist_env

    path = construct_dataset(
        kind,  # type: ignore[arg-type]  # a click.Choice of the four kinds
        source_checkpoint=source, dataset=dataset, out=out, split=split, seed=seed,
        steps=steps, step_size=step_size, eps=eps, init=init, shard_size=shard_size, n=n,
        device=resolve_device(device), data_root=data_root_env(data_root),
        batch_size=batch_size, noise_std=noise_std, random_start=random_start, force=force,
        trust_unverified=trust_unverified, precision=precision, channels_last=channels_last,
        compile=compile_model,
    )
    if dist_env()[0] != 0:
        return
    card = read_card(path)
    summary = {"out": str(path), "n": card["n_train"], "sha256": card["sha256"],
               "stats": card["provenance"].get("stats", {})}
    if as_json:
        echo_json(summary)
        return
    stats = ", ".join(f"{k} {v:.4g}" for k, v in summary["stats"].items())
    click.echo(f"{kind}: {summary['n']} images -> {path} ({stats})")
