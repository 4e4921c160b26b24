"""``advlab models import``: other libraries' checkpoints as advlab checkpoints.

Examples::

    advlab models import --from robustness cifar_l2_0_5.pt --out models/madry-l2-0.5
    advlab models import --from robustbench Wong2020Fast \\
        --checkpoint models/cifar10/Linf/Wong2020Fast.pt --out models/wong2020fast
    advlab construct robust --source models/madry-l2-0.5 --dataset DIR --out runs/d_r
"""

from __future__ import annotations

from typing import Any

import click

from advlab.cli.options import AdvlabGroup, echo_json, force_option, json_option
from advlab.errors import AdvlabError


@click.group(cls=AdvlabGroup)
def command() -> None:
    """Import models from other libraries (see docs/models.md)."""


@command.command("import")
@click.option("--from", "source", required=True, type=click.Choice(["robustness", "robustbench"]),
              help="The library that wrote the checkpoint.")
@click.argument("name_or_file", metavar="NAME|FILE")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="robustbench: the downloaded .pt file of model NAME.")
@click.option("--dataset", type=click.Choice(["cifar10", "cifar100", "imagenet"]), default="cifar10",
              show_default=True, help="robustbench: the model zoo's dataset.")
@click.option("--threat-model", type=click.Choice(["Linf", "L2", "corruptions"]), default="Linf",
              show_default=True, help="robustbench: the model zoo's threat model.")
@click.option("--image-size", type=int, default=None,
              help="H = W of the inputs [default: 32 for CIFAR, 224 for ImageNet].")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="The advlab checkpoint folder to write.")
@force_option
@json_option
def import_(source: str, name_or_file: str, checkpoint: str | None, dataset: str,
            threat_model: str, image_size: int | None, out: str, force: bool,
            as_json: bool) -> None:
    """Import a checkpoint: --from robustness FILE, or --from robustbench NAME --checkpoint FILE.

    The file is read with torch.load(weights_only=True): one that needs code execution to
    load is refused. Logits are checked on probe images; the result loads with
    advlab.load_model(OUT) and serves as --source of `advlab construct`.
    """
    rec: dict[str, Any]
    if source == "robustness":
        if checkpoint is not None:
            raise AdvlabError("checkpoint: --from robustness takes the file as its argument "
                              "(advlab models import --from robustness FILE --out DIR)",
                              param="checkpoint")
        from advlab.models.foreign.robustness import import_robustness

        try:
            rec = import_robustness(name_or_file, out, image_size=image_size or 32, force=force)
        except AdvlabError as e:  # the file is this command's argument, not --checkpoint
            if e.param != "checkpoint":
                raise
            raise AdvlabError(e.renamed("FILE")) from None
        what = f"robustness {rec['arch']}"
    else:
        if checkpoint is None:
            raise AdvlabError("checkpoint: --from robustbench NAME needs --checkpoint FILE, the "
                              "model's downloaded .pt file (see docs/models.md)", param="checkpoint")
        from advlab.models.foreign.robustbench import import_robustbench

        rec = import_robustbench(name_or_file, checkpoint, out, dataset=dataset,
                                 threat_model=threat_model, image_size=image_size, force=force)
        what = f"robustbench {rec['name']} ({dataset}, {threat_model})"
    if as_json:
        echo_json(rec)
        return
    diffs = [f"{k.removeprefix('max_abs_').replace('_', ' ')} {v:.3g}" for k, v in rec.items()
             if k.startswith("max_abs_") and v is not None]
    click.echo(f"imported {what} -> {out} (sha256 {rec['source_sha256'][:12]}...; "
               f"{'; '.join(diffs)})")
    if rec.get("features_layer", "") is None:
        click.echo("note: features(x) unavailable (the network does more after its last "
                   "linear layer); the model cannot be a construction source", err=True)
