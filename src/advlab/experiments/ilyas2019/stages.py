"""The recipe's work units: train a model, construct a dataset, load what they wrote.

Each function runs inside one stage folder of the run (``RunDir.stage``) and returns a
small JSON-able dict; the heavy outputs (checkpoints, dataset artifacts) stay in the
folder, where the library's own checkpoints make them resumable after a kill.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from advlab.experiments.ilyas2019.config import IlyasConfig, TrainSettings

Data = tuple[torch.Tensor, torch.Tensor]

#: Figure 3's architecture labels -> (architecture, keyword arguments); other labels are
#: architecture names with their defaults. ``linear`` is an MLP without hidden layers.
TRANSFER_MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "linear": ("mlp", {"hidden": []}),
    "allconv": ("allconv", {"width": 16}),
}

#: Learning-rate factors per Figure 3 label. The all-convolutional net has no batch
#: normalisation and diverges (loss -> nan) under SGD at the CNN's lr 0.05; at 0.01 it trains.
TRANSFER_LR_SCALE: dict[str, float] = {"allconv": 0.2}


def subset(data: Data, n: int | None, seed: int) -> Data:
    """A seeded random subset of ``n`` samples (all of them when n is None or too large).

    Args:
        data: (x (N, C, H, W), y (N,)).
    Returns:
        (x (n, C, H, W), y (n,)), in a random order that depends on ``seed`` only.
    """
    x, y = data
    if n is None or n >= x.shape[0]:
        return x, y
    idx = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    return x[idx], y[idx]


def train_model(out: Path, settings: TrainSettings, train_data: Data, test_data: Data, *,
                arch: str, model_kwargs: dict[str, Any], seed: int, device: str,
                label: str, adv_eps: float | None = None, adv_steps: int = 7) -> dict[str, Any]:
    """Train one model with ``advlab.train`` into ``out``; return its history.

    The returned ``checkpoint`` is relative to ``out`` (run folders can be moved).

    ``adv_eps`` switches on L2 PGD adversarial training (Table 4: ``adv_steps`` steps of
    size eps/5, starting at the image). The checkpoint used downstream is ``last/``: the
    paper reports the last iterate (Appendix D.4: no validation set from D exists).
    """
    from advlab.train import AdvConfig, TrainConfig, train

    adversarial = None if adv_eps is None else AdvConfig(kind="pgd", norm="l2", eps=adv_eps,
                                                         steps=adv_steps)
    cfg = TrainConfig(
        dataset=label, model=arch, model_kwargs=dict(model_kwargs), epochs=settings.epochs,
        batch_size=settings.batch_size, optimizer=settings.optimizer,  # type: ignore[arg-type]
        lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay,
        lr_drop_epochs=settings.lr_drop_epochs, augment=settings.augment,  # type: ignore[arg-type]
        adversarial=adversarial, seed=seed, device=device,
    )
    result = train(cfg, out, train_data=train_data, test_data=test_data)
    history = _history(result)
    return {"checkpoint": "last", "history": history,
            "test_acc": history[-1]["test_acc"] if history else None}


def _history(result: Any) -> list[dict[str, Any]]:
    """Per-epoch records ``{"epoch", "train_acc", "test_acc"}`` from a TrainResult."""
    rows = getattr(result, "history", None) or []
    out = []
    for i, r in enumerate(rows):
        r = r if isinstance(r, dict) else vars(r)
        out.append({"epoch": int(r.get("epoch", i)), "train_acc": r.get("train_acc"),
                    "test_acc": r.get("test_acc")})
    return out


def load(checkpoint: str, device: str) -> nn.Module:
    """A trained model in eval mode."""
    import advlab

    model: nn.Module = advlab.load_model(checkpoint, device=device)
    return model.eval()


def construct(out: Path, kind: str, cfg: IlyasConfig, *, source: str, dataset: str, seed: int,
              device: str, data_root: str | None, split: str = "train", n: int | None = None,
              init: str | None = None) -> dict[str, Any]:
    """Build D_R / D_NR (``robust`` / ``nonrobust``) or D_rand / D_det (``rand`` / ``det``).

    Hyper-parameters come from the config (Table 5 / Table 6, scaled); the artifact is
    written to ``out/data`` by :func:`advlab.features.construct_dataset`, which resumes
    from its finished shards after a kill. Returns the card's statistics and the path
    (``"data"``, relative to ``out``).
    """
    from advlab.data.artifact import read_card
    from advlab.features import construct_dataset

    kw: dict[str, Any]
    if kind in ("robust", "nonrobust"):
        steps = cfg.noise_steps if init == "noise" else cfg.robustify_steps
        kw = {"steps": steps, "step_size": cfg.robustify_step_size, "init": init or "image"}
    else:
        kw = {"steps": cfg.relabel_steps, "step_size": cfg.relabel_step_size, "eps": cfg.relabel_eps}
    path = construct_dataset(
        kind, source_checkpoint=source, dataset=dataset, out=out / "data", split=split,  # type: ignore[arg-type]
        seed=seed, shard_size=cfg.shard_size, n=n, device=device, data_root=data_root, **kw,
    )
    stats = read_card(path).get("provenance", {}).get("stats", {})
    return {"path": "data", "kind": kind, "split": split, "n": n, **kw, "stats": stats}


def sample_index(artifact: str) -> torch.Tensor:
    """The source index of every constructed sample (its row in the source split), (N,)."""
    from safetensors.torch import load_file

    from advlab.features.construct import SAMPLES_FILE

    return load_file(str(Path(artifact) / SAMPLES_FILE))["index"]
