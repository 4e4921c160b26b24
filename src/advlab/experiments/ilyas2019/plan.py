"""The cost plan of an ``ilyas2019`` run (``--plan``): the passes of every stage.

Counts follow the code the stages call (``advlab.train``, ``advlab.features``,
``advlab.evaluate``). Attacks that stop early on fooled points (APGD in the robust
accuracies) are counted as if no point stopped: an upper bound. The priced plan comes
from :func:`advlab.experiments.plan.price`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from advlab.experiments.engine import RunContext
from advlab.experiments.ilyas2019 import stages as S
from advlab.experiments.ilyas2019.config import IlyasConfig, TrainSettings
from advlab.experiments.ilyas2019.evals import TABLE7_ROWS
from advlab.experiments.plan import (
    DatasetFacts,
    Net,
    Pricer,
    StagePlan,
    Work,
    a100,
    assemble,
    dataset_facts,
)

#: batch sizes of the library calls the stages make (their defaults)
CONSTRUCT_BATCH, ATTACK_BATCH, CLEAN_BATCH, TRAIN_EVAL_BATCH = 256, 256, 512, 500
#: evaluate.checks: a subset of at most 100 points
CHECK_SUBSET = 100


def net(arch: str, kwargs: dict[str, Any], facts: DatasetFacts) -> Net:
    """The network ``arch(**kwargs)`` on the dataset's images."""
    from advlab.models import build_model

    shape, k = facts.shape, facts.num_classes
    args = ",".join(f"{a}={v}" for a, v in sorted(kwargs.items()))
    key = f"{arch}{f'({args})' if args else ''} {'x'.join(map(str, shape))}"
    return Net(key, lambda d: build_model(arch, in_shape=shape, num_classes=k, kwargs=kwargs,
                                          device=d), shape)


class Planner:
    """Stage name -> its works, for one config and dataset."""

    def __init__(self, cfg: IlyasConfig, facts: DatasetFacts) -> None:
        self.cfg, self.facts = cfg, facts
        self.main = net(cfg.arch, dict(cfg.model_kwargs), facts)
        self.n_train = min(cfg.n_train or facts.n_train, facts.n_train)

    def n_of(self, n: int | None, split_size: int) -> int:
        return split_size if n is None else min(n, split_size)

    # ------------------------------------------------------------------ work units
    def train(self, label: str, s: TrainSettings, n: int, model: Net | None = None,
              adv_eps: float | None = None) -> list[Work]:
        model = model or self.main
        slots = 2 if s.optimizer == "adam" else 1
        out = [Work(f"{label}: {s.epochs} epochs x {n:,} images ({s.optimizer}, {s.augment})",
                    model, "train", s.epochs * n, s.batch_size, slots)]
        if adv_eps is not None:
            k = self.cfg.robust_steps
            out.append(Work(f"{label}: L2 PGD-{k} inner maximisation, eps {adv_eps:g}", model,
                            "grad", s.epochs * n * k, s.batch_size))
        out.append(Work(f"{label}: test accuracy after every epoch", model, "forward",
                        s.epochs * self.facts.n_test, TRAIN_EVAL_BATCH))
        return out

    def invert(self, label: str, n: int, steps: int) -> list[Work]:
        m = self.main
        return [Work(f"{label}: g(x) of the targets", m, "forward", n, CONSTRUCT_BATCH),
                Work(f"{label}: {steps} inversion steps x {n:,} images", m, "grad", n * steps, CONSTRUCT_BATCH),
                Work(f"{label}: distance of the last iterate", m, "forward", n, CONSTRUCT_BATCH)]

    def relabel(self, label: str, n: int) -> list[Work]:
        k, m = self.cfg.relabel_steps, self.main
        return [Work(f"{label}: targeted L2 PGD-{k} x {n:,} images", m, "grad", n * k, CONSTRUCT_BATCH),
                Work(f"{label}: targets reached", m, "forward", n, CONSTRUCT_BATCH)]

    def robust_eval(self, label: str, n: int, n_eps: int) -> list[Work]:
        """``evaluate.robust_accuracy``: clean pass, APGD (upper bound), sanity checks."""
        steps, m = self.cfg.eval_steps, self.main
        out = [Work(f"{label}: clean accuracy", m, "forward", n, CLEAN_BATCH),
               Work(f"{label}: APGD-{steps} at {n_eps} eps (no early stop counted)", m, "grad",
                    n * steps * n_eps, ATTACK_BATCH)]
        if self.cfg.eval_checks:
            s = min(n, CHECK_SUBSET)
            checks = s * (n_eps * 2 * steps * 2 + max(steps, 20) + 1)
            out.append(Work(f"{label}: sanity checks on {s} points", m, "grad", checks, ATTACK_BATCH))
        return out

    # ------------------------------------------------------------------ stages
    def stage(self, name: str) -> StagePlan:
        for prefix, fn in self._dispatch().items():
            if name.startswith(prefix):
                return fn(name)
        raise KeyError(f"no cost model for stage {name!r}")

    def _dispatch(self) -> dict[str, Callable[[str], StagePlan]]:
        return {"source_standard": self._source, "source_robust": self._source,
                "construct_d_r_test": self._construct_test, "construct_": self._construct,
                "train_original": self._train_original, "train_": self._train_set,
                "eval_table7_": self._table7, "eval_relabel": self._relabel_tables,
                "eval_table8": self._table8, "eval_figure8": self._figure8,
                "eval_transfer": self._eval_transfer, "transfer_": self._transfer}

    def _source(self, name: str) -> StagePlan:
        robust = name == "source_robust"
        s = self.cfg.robust_train if robust else self.cfg.source_train
        return StagePlan(name, self.train(name, s, self.n_train,
                                          adv_eps=self.cfg.robust_eps if robust else None))

    def _construct(self, name: str) -> StagePlan:
        set_name = name.removeprefix("construct_")
        kind, _, init = S.CONSTRUCTIONS[set_name]
        if init is None:
            return StagePlan(name, self.relabel(name, self.n_of(self.cfg.n_relabel, self.facts.n_train)))
        n = self.n_of(self.cfg.n_construct_noise if init == "noise" else self.cfg.n_construct,
                      self.facts.n_train)
        steps = self.cfg.noise_steps if init == "noise" else self.cfg.robustify_steps
        return StagePlan(name, self.invert(name, n, steps))

    def _construct_test(self, name: str) -> StagePlan:
        n = min(self.cfg.n_construct_test, self.facts.n_test)
        return StagePlan(name, self.invert(name, n, self.cfg.robustify_steps))

    def _set_size(self, set_name: str) -> int:
        init = S.CONSTRUCTIONS[set_name][2]
        n = {"image": self.cfg.n_construct, "noise": self.cfg.n_construct_noise, None: self.cfg.n_relabel}[init]
        return self.n_of(n, self.facts.n_train)

    def _train_set(self, name: str) -> StagePlan:
        set_name = name.removeprefix("train_")
        return StagePlan(name, self.train(name, self.cfg.train_settings(set_name), self._set_size(set_name)))

    def _train_original(self, name: str) -> StagePlan:
        """The unmodified images of D_R (``train_original``) or of D_R from noise."""
        of = "d_r_noise" if name.endswith("_noise") else "d_r"
        return StagePlan(name, self.train(name, self.cfg.constructed_train, self._set_size(of)))

    def _table7(self, name: str) -> StagePlan:
        n = min(self.cfg.n_eval, self.facts.n_test)
        return StagePlan(name, self.robust_eval(name, n, len(self.cfg.eval_eps)))

    def _relabel_tables(self, name: str) -> StagePlan:
        return StagePlan(name, [Work(f"{name}: 7 test accuracies (Tables 1, 9, 10)", self.main,
                                     "forward", 7 * self.facts.n_test, CLEAN_BATCH)])

    def _table8(self, name: str) -> StagePlan:
        n_test = min(self.cfg.n_eval, self.facts.n_test)
        sizes = (min(self.cfg.n_eval, self._set_size("d_r")),
                 min(self.cfg.n_eval, self.cfg.n_construct_test, self.facts.n_test), n_test)
        works = [w for part, n in zip(("D_R train", "D_R test", "test"), sizes, strict=True)
                 for w in self.robust_eval(f"{name} {part}", n, 1)]
        return StagePlan(name, works)

    def _figure8(self, name: str) -> StagePlan:
        n, steps = min(self.cfg.n_fig8, self.cfg.n_eval, self.facts.n_test), self.cfg.fig8_steps
        return StagePlan(name, [
            Work(f"{name}: clean passes, 2 models x {len(steps)} step counts", self.main, "forward",
                 2 * len(steps) * n, CLEAN_BATCH),
            Work(f"{name}: APGD with {'+'.join(map(str, steps))} steps, 2 models", self.main, "grad",
                 2 * sum(steps) * n, ATTACK_BATCH)])

    def _transfer(self, name: str) -> StagePlan:
        label = name.removeprefix("transfer_")
        arch, kwargs = S.transfer_model(label, self.cfg)
        target = net(arch, kwargs, self.facts)
        n_d = self.n_of(self.cfg.transfer_n_train, self.n_train)
        works = self.train(f"{name} on D", self.cfg.transfer_train, n_d, target)
        if S.reuses_d_det(arch, kwargs, self.cfg):
            return StagePlan(name, works, note="the D_det model is train_d_det's (same network and settings)")
        works += self.train(f"{name} on D_det", self.cfg.det_train, self._set_size("d_det"), target)
        return StagePlan(name, works)

    def _eval_transfer(self, name: str) -> StagePlan:
        n, k = min(self.cfg.n_eval, self.facts.n_test), self.cfg.transfer_steps
        works = [Work(f"{name}: L2 PGD-{k} on the standard source (every step)", self.main, "grad",
                      n * k, ATTACK_BATCH)]
        for label in self.cfg.transfer_archs:
            arch, kwargs = S.transfer_model(label, self.cfg)
            works.append(Work(f"{name}: {label} on the examples", net(arch, kwargs, self.facts),
                              "forward", n, CLEAN_BATCH))
        return StagePlan(name, works)


def stage_plans(cfg: IlyasConfig, facts: DatasetFacts, seed: int = 0) -> list[StagePlan]:
    """The works of every stage of the recipe's stage list (built, not run)."""
    ctx = RunContext(Path("plan"), "ilyas2019", cfg, seed, "cpu")
    planner = Planner(cfg, facts)
    return [planner.stage(st.name) for st in S.stages(ctx)]


def make_plan(cfg: IlyasConfig, data_root: str | None = None, seed: int = 0,
              calibrate: bool = True) -> dict[str, Any]:
    """The priced plan of a run of ``cfg`` (JSON-able; :func:`advlab.experiments.plan.render`
    prints it). Nothing is trained; ``calibrate=False`` skips the CPU timings."""
    t0 = time.perf_counter()
    facts = dataset_facts(cfg.dataset, data_root)
    pricer = Pricer(a100(), calibrate=calibrate)
    plans = stage_plans(cfg, facts, seed)
    host = (facts.n_train + facts.n_test) * math.prod(facts.shape) * 4
    notes = [*facts.notes, "the whole train and test splits are held in host memory as float32"]
    plan = assemble("ilyas2019", cfg, plans, pricer, notes, host)
    plan["seconds"] = round(time.perf_counter() - t0, 1)
    return plan


__all__ = ["Planner", "TABLE7_ROWS", "make_plan", "net", "stage_plans"]
