"""The recipe end to end: every stage through ``RunDir.stage`` (cached, resumable).

Stage order (names are the sub-folders of ``--out``):

1. ``source_standard`` / ``source_robust``: the source models (standard; L2 PGD-AT).
2. ``construct_*``: D_R, D_NR (from images and from noise), the D_R test set (Table 8),
   D_rand / D_det from the standard and from the robust source (Tables 1, 9, 10).
3. ``train_*``: standard training on every constructed set, plus ``train_original``
   (the same images as D_R, unmodified: a control the paper does not have).
4. ``transfer_*``: Figure 3's architectures, trained on D and on D_det.
5. ``eval_*``: Tables 1 and 7-10, Figures 3 and 8; then figures and the report.
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from advlab.experiments.ilyas2019 import evals, stages
from advlab.experiments.ilyas2019.config import IlyasConfig, resolve_config
from advlab.store import RunDir, seed_everything

TAG = "[ilyas2019]"
#: constructed set -> (construction kind, source model, init)
CONSTRUCTIONS: dict[str, tuple[str, str, str | None]] = {
    "d_r": ("robust", "robust", "image"),
    "d_nr": ("nonrobust", "standard", "image"),
    "d_r_noise": ("robust", "robust", "noise"),
    "d_nr_noise": ("nonrobust", "standard", "noise"),
    "d_rand": ("rand", "standard", None),
    "d_det": ("det", "standard", None),
    "d_rand_robust": ("rand", "robust", None),
    "d_det_robust": ("det", "robust", None),
}


class Pipeline:
    """One run: the config, the run folder, the data, and the stage bookkeeping."""

    def __init__(self, cfg: IlyasConfig, out: str | Path, *, seed: int, device: str, force: bool,
                 data_root: str | None) -> None:
        import advlab

        self.cfg, self.seed, self.device, self.data_root = cfg, seed, device, data_root
        self.run = RunDir(out, force=force)
        full_train = advlab.load_dataset(cfg.dataset, "train", data_root=data_root)
        self.train = stages.subset(full_train, cfg.n_train, seed)
        self.test = advlab.load_dataset(cfg.dataset, "test", data_root=data_root)
        self.eval = stages.subset(self.test, cfg.n_eval, seed + 1)
        self.full_train_x = full_train[0]
        self.steps: list[tuple[str, Callable[[Path], Any]]] = []
        self.results: dict[str, Any] = {}

    # ------------------------------------------------------------ bookkeeping
    def add(self, name: str, fn: Callable[[Path], Any]) -> None:
        self.steps.append((name, fn))

    def execute(self) -> dict[str, Any]:
        total = len(self.steps)
        for i, (name, fn) in enumerate(self.steps, 1):
            state = "cached" if self.run.is_done(name) else "running"
            print(f"{TAG} stage {i}/{total}: {name} ({state})", file=sys.stderr, flush=True)
            seed_everything(self.seed)
            self.results[name] = self.run.stage(name, partial(_timed, fn))
        return self.results

    def ckpt(self, stage: str, *sub: str) -> str:
        """The checkpoint folder a training stage wrote (``sub``: a nested result)."""
        res = self.results[stage]
        for key in sub:
            res = res[key]
        return str(self.run.path(stage, res["checkpoint"]))

    def artifact(self, name: str) -> str:
        """The dataset artifact folder of constructed set ``name`` (``construct_<name>``)."""
        stage = f"construct_{name}"
        return str(self.run.path(stage, self.results[stage]["path"]))

    # ------------------------------------------------------------ stages
    def plan(self) -> None:
        """Queue the stages, most informative first, so a partial run already answers
        Table 7's main question (D_R vs D_NR), then Tables 1/9/10, 8 and Figure 3."""
        cfg = self.cfg
        self.add("source_standard", lambda d: self._train(d, cfg.source_train, self.train, "D"))
        self.add("source_robust", lambda d: self._train(
            d, cfg.robust_train, self.train, "D (adversarial)", adv_eps=cfg.robust_eps))
        for group in (("d_r", "d_nr"), ("d_rand", "d_det"), ("d_rand_robust", "d_det_robust"),
                      ("d_r_noise", "d_nr_noise")):
            for name in group:
                self.add(f"construct_{name}", partial(self._construct, name=name))
            for name in group:
                self.add(f"train_{name}", partial(self._train_on, name=name))
            if group[0] == "d_r":
                self.add("train_original", lambda d: self._train(
                    d, cfg.constructed_train, self._original_like("d_r"), "D (same images as D_R)"))
                for row in ("standard", "adversarial", "d_r", "d_nr", "original"):
                    self.add(f"eval_table7_{row}", partial(evals.table7_row, self, row=row))
            if group[0] == "d_rand_robust":
                self.add("eval_relabel", lambda d: evals.relabel_tables(self, d))
        for row in ("d_r_noise", "d_nr_noise"):
            self.add(f"eval_table7_{row}", partial(evals.table7_row, self, row=row))
        self.add("construct_d_r_test", lambda d: stages.construct(
            d, "robust", cfg, source=self.ckpt("source_robust"), dataset=cfg.dataset,
            seed=self.seed + 1, device=self.device, data_root=self.data_root, split="test",
            n=min(cfg.n_construct_test, self.test[0].shape[0]), init="image"))
        self.add("eval_table8", lambda d: evals.table8(self, d))
        self.add("eval_figure8", lambda d: evals.figure8(self, d))
        for label in cfg.transfer_archs:
            self.add(f"transfer_{label}", partial(self._transfer_models, label=label))
        self.add("eval_transfer", lambda d: evals.transfer(self, d))

    def _train(self, d: Path, settings: Any, data: stages.Data, label: str,
               adv_eps: float | None = None, arch: str | None = None,
               model_kwargs: dict[str, Any] | None = None, seed: int | None = None) -> dict[str, Any]:
        return stages.train_model(
            d, settings, data, self.test, arch=arch or self.cfg.arch,
            model_kwargs=self.cfg.model_kwargs if model_kwargs is None else model_kwargs,
            seed=self.seed if seed is None else seed, device=self.device, label=label,
            adv_eps=adv_eps, adv_steps=self.cfg.robust_steps)

    def _construct(self, d: Path, name: str) -> dict[str, Any]:
        kind, source, init = CONSTRUCTIONS[name]
        n = {"image": self.cfg.n_construct, "noise": self.cfg.n_construct_noise,
             None: self.cfg.n_relabel}[init]
        n = min(n, self.full_train_x.shape[0])
        return stages.construct(d, kind, self.cfg, source=self.ckpt(f"source_{source}"),
                                dataset=self.cfg.dataset, seed=self.seed, device=self.device,
                                data_root=self.data_root, n=n, init=init)

    def _train_on(self, d: Path, name: str) -> dict[str, Any]:
        import advlab

        data = advlab.load_dataset(self.artifact(name))
        return self._train(d, self.cfg.constructed_train, data, name)

    def _original_like(self, name: str) -> stages.Data:
        """The unmodified training images (and labels) a constructed set was built from."""
        import advlab

        idx = stages.sample_index(self.artifact(name))
        x, y = advlab.load_dataset(self.cfg.dataset, "train", data_root=self.data_root)
        return x[idx], y[idx]

    def _transfer_models(self, d: Path, label: str) -> dict[str, Any]:
        """Figure 3: one architecture trained on D (transfer target) and on D_det (accuracy)."""
        import advlab

        arch, kwargs = stages.TRANSFER_MODELS.get(label, (label, {}))
        scale = stages.TRANSFER_LR_SCALE.get(label, 1.0)
        on_d = self._train(d / "on_d", _scaled_lr(self.cfg.transfer_train, scale),
                           stages.subset(self.train, self.cfg.transfer_n_train, self.seed + 2),
                           f"D ({label})", arch=arch, model_kwargs=kwargs, seed=self.seed + 1)
        on_d["checkpoint"] = f"on_d/{on_d['checkpoint']}"
        if arch == self.cfg.arch and kwargs == {} and not self.cfg.model_kwargs:
            on_det = dict(self.results["train_d_det"])  # same data, settings and seed: reuse
            on_det["checkpoint"] = f"../train_d_det/{on_det['checkpoint']}"
        else:
            on_det = self._train(d / "on_d_det", _scaled_lr(self.cfg.constructed_train, scale),
                                 advlab.load_dataset(self.artifact("d_det")), f"d_det ({label})",
                                 arch=arch, model_kwargs=kwargs)
            on_det["checkpoint"] = f"on_d_det/{on_det['checkpoint']}"
        return {"arch": arch, "model_kwargs": kwargs, "on_d": on_d, "on_d_det": on_det}


def _scaled_lr(settings: Any, scale: float) -> Any:
    """``settings`` with its learning rate multiplied by ``scale`` (unchanged when 1)."""
    return settings if scale == 1.0 else dataclasses.replace(settings, lr=settings.lr * scale)


def _timed(fn: Callable[[Path], Any], d: Path) -> Any:
    """Run a stage and record its wall time (seconds) in its result."""
    t0 = time.monotonic()
    out = fn(d)
    if isinstance(out, dict):
        out["seconds"] = round(time.monotonic() - t0, 2)
    return out


def _check_same_config(out: Path, config: dict[str, Any], seed: int, force: bool) -> None:
    """Refuse to resume a run folder made with other settings (its cached stages would mix)."""
    from advlab.errors import AdvlabError
    from advlab.store import read_json, to_jsonable

    path = out / "config.json"
    if force or not path.is_file():
        return
    old = read_json(path)
    if old.get("config") != to_jsonable(config) or old.get("seed") != seed:
        raise AdvlabError(
            f"--out: {str(out)!r} holds a run with another config or seed; "
            "use a new folder or --force to recompute every stage"
        )


def command_line(dataset: str, scale: str, out: str | Path, seed: int, device: str,
                 data_root: str | None, overrides: dict[str, Any]) -> str:
    """The exact ``advlab reproduce ilyas2019`` command that reproduces a run."""
    parts = ["advlab", "reproduce", "ilyas2019", "--dataset", dataset, "--scale", scale,
             "--out", str(out), "--seed", str(seed), "--device", device]
    if data_root:
        parts += ["--data-root", str(data_root)]
    for k, v in overrides.items():
        v = ",".join(map(str, v)) if isinstance(v, list | tuple) else v
        parts += ["--set", f"{k}={v}"]
    return shlex.join(parts)


def run(out: str | Path, *, dataset: str, scale: str = "quick", seed: int = 0, device: str = "cpu",
        force: bool = False, data_root: str | None = None, **overrides: Any) -> dict[str, Any]:
    """Run the whole recipe into ``out``; return the contents of ``results.json``.

    Args:
        out: the run folder (a completed stage inside is skipped; ``force`` recomputes).
        dataset: any ``advlab.load_dataset`` name (quick: mnist5k, medium: fashion-mnist,
            full: cifar10).
        scale: ``tiny`` (CI), ``quick``, ``medium`` or ``full`` (see config.py).
        overrides: fields of :class:`IlyasConfig` (``"constructed_train.epochs"`` style
            for training settings).
    """
    from advlab.experiments.ilyas2019 import figures, report

    cfg = resolve_config(dataset, scale, **overrides)
    _check_same_config(Path(out), asdict(cfg), seed, force)
    pipe = Pipeline(cfg, out, seed=seed, device=device, force=force, data_root=data_root)
    command = command_line(dataset, scale, out, seed, device, data_root, overrides)
    pipe.run.write_config({"command": command, "seed": seed, "device": device,
                           "data_root": data_root, "config": asdict(cfg)})
    pipe.plan()
    pipe.execute()
    results = evals.collect(pipe.results, cfg, command=command, seed=seed)
    print(f"{TAG} figures and report", file=sys.stderr, flush=True)
    figures.make_all(pipe, results)
    pipe.run.write_results(results)
    report.write_report(results, pipe.run.root)
    return results
