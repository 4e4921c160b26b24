"""The cost plan of a ``richardson2020`` run (``--plan``): the passes of every stage.

Upper bounds where the run decides at run time: every searched CNN width and RBF gamma
is counted, the attacked CNN is the widest, an SVM keeps every training point as a
support vector, EM runs all its iterations, attacks run every step. The MFA's k-means
initialisation, the PCA of the outlier direction and the sampling of synthetic data are
not counted (each below 1% of the stage's EM).

Placement follows the code as it runs: the MFA fit, CNN training, every attack (LD-Grad,
FMN, CW-L2) and clean accuracy use ``--device`` (the Bayes-optimal classifier and the SVMs
move there); scikit-learn's SVM fits and the RBF SVM's gamma search and nearest-point start
run on the CPU (``cpu_only``).
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path
from typing import Any, cast

import torch
from torch.utils.flop_counter import FlopCounterMode

from advlab.experiments.engine import RunContext
from advlab.experiments.plan import (
    DatasetFacts,
    Fit,
    Net,
    PassCost,
    Pricer,
    StagePlan,
    Work,
    a100,
    assemble,
    dataset_facts,
)
from advlab.experiments.richardson2020 import stages as S
from advlab.experiments.richardson2020.config import RichardsonConfig
from advlab.seeding import generator

ATTACK_BATCH, CLEAN_BATCH, TRAIN_EVAL_BATCH, EM_BATCH = 256, 512, 500, 4096
#: components the MFA networks are counted with (then scaled to the real number)
SMALL_K = 2
F64 = torch.float64


def allconv(width: int, shape: tuple[int, int, int]) -> Net:
    from advlab.models import build_model

    return Net(f"allconv(width={width}) {'x'.join(map(str, shape))}",
               lambda d: build_model("allconv", in_shape=shape, num_classes=2,
                                     kwargs={"width": width}, device=d), shape)


def svm(kind: str, n_support: int, shape: tuple[int, int, int]) -> Net:
    from advlab.models.svm import Kind, SVMModule  # SVMModule checks kind

    def build(device: str) -> torch.nn.Module:
        with torch.device(device):
            return SVMModule(shape, 2, kind=cast(Kind, kind), n_support=n_support, n_outputs=1)

    return Net(f"{kind}_svm({n_support:,} support vectors) {'x'.join(map(str, shape))}", build,
               shape, F64)


def _random_mfa(k: int, latent: int, shape: tuple[int, int, int]) -> Any:
    from advlab.bayes import MFA

    d, g = math.prod(shape), generator(0)
    return MFA(k, latent).set_params_from(
        torch.ones(k, dtype=F64), torch.rand(k, d, generator=g, dtype=F64),
        0.1 * torch.randn(k, d, latent, generator=g, dtype=F64), torch.full((k, d), 0.01, dtype=F64),
        input_shape=shape)


def bayes(k0: int, k1: int, latent: int, shape: tuple[int, int, int]) -> Net:
    """The Bayes-optimal classifier of two MFAs, counted with SMALL_K components per class
    (its cost is linear in the components) and scaled."""
    from advlab.bayes import BayesOptimalClassifier

    def build(device: str) -> torch.nn.Module:
        return BayesOptimalClassifier(_random_mfa(SMALL_K, latent, shape), _random_mfa(SMALL_K, latent, shape))

    d = math.prod(shape)
    return Net(f"bayes_optimal({k0}+{k1} components, latent {latent}) {'x'.join(map(str, shape))}",
               build, shape, F64, scale=(k0 + k1) / (2 * SMALL_K),
               extra_bytes=max(0, k0 + k1 - 2 * SMALL_K) * d * (latent + 2) * 8)


@functools.lru_cache(maxsize=8)
def em_flops_per_sample(latent: int, d: int) -> float:
    """FLOPs of one EM iteration per sample and per component of an MFA of latent
    dimension ``latent`` on ``d`` features: the difference FlopCounterMode counts between
    fits of 2 and 1 iterations (initialisation cancels) with SMALL_K components."""
    from advlab.bayes import MFA

    n = max(64, 2 * SMALL_K * (latent + 1))
    x = torch.rand((n, d), generator=generator(0), dtype=F64)
    flops = []
    for iters in (1, 2):
        with FlopCounterMode(display=False) as fc:
            MFA(SMALL_K, latent, max_iter=iters, tol=0.0, random_state=0).fit(x)
        flops.append(fc.get_total_flops())
    return max(flops[1] - flops[0], 1) / (n * SMALL_K)


def em_cost(k: int, latent: int, shape: tuple[int, int, int]) -> PassCost:
    """One EM batch of a K-component MFA (:func:`em_flops_per_sample`, linear in K) and its
    memory: the parameters and a few batch-sized float64 buffers."""
    d = math.prod(shape)
    memory = k * d * (latent + 2) * 8 + 4 * EM_BATCH * d * 8
    return PassCost(int(em_flops_per_sample(latent, d) * k * EM_BATCH), 0, memory)


class Planner:
    """Stage name -> its works, for one config; the real pairs' facts are read once."""

    def __init__(self, cfg: RichardsonConfig, data_root: str | None, pricer: Pricer) -> None:
        self.cfg, self.data_root, self.pricer = cfg, data_root, pricer
        self.facts: dict[str, DatasetFacts] = {}

    def pair(self, p: str) -> DatasetFacts:
        if p not in self.facts:
            self.facts[p] = dataset_facts(f"{self.cfg.dataset}:{p}", self.data_root)
        return self.facts[p]

    def shape(self, p: str) -> tuple[int, int, int]:
        return self.pair(p).shape

    def components(self, p: str) -> tuple[int, int]:
        counts = self.class_counts(p)
        if self.cfg.mfa_components > 0:
            return self.cfg.mfa_components, self.cfg.mfa_components
        k0, k1 = (max(1, round(c / 1000)) for c in counts)
        return k0, k1

    def class_counts(self, p: str) -> tuple[int, int]:
        f = self.pair(p)
        counts = f.train_counts or [f.n_train // 2, f.n_train - f.n_train // 2]
        n = sum(counts)
        if 0 < self.cfg.real_train_limit < n:
            n0, n1 = (round(c * self.cfg.real_train_limit / n) for c in counts)
            return n0, n1
        return counts[0], counts[1]

    # ------------------------------------------------------------------ work units
    def train_cnn(self, label: str, net: Net, n: int, epochs: int, n_val: int) -> list[Work]:
        b = self.cfg.cnn_batch_size
        return [Work(f"{label}: {epochs} epochs x {n:,} samples (Adam)", net, "train", epochs * n, b, 2),
                Work(f"{label}: validation accuracy after every epoch", net, "forward", epochs * n_val,
                     TRAIN_EVAL_BATCH)]

    def attack(self, label: str, net: Net, n: int, n_test: int, bayes_model: bool = False) -> list[Work]:
        c = self.cfg
        first = (f"LD-Grad, {c.ldgrad_steps} steps", c.ldgrad_steps) if bayes_model else \
            (f"FMN, {c.attack_steps} steps", c.attack_steps)
        out = [Work(f"{label}: clean accuracy on {n_test:,} test points", net, "forward", n_test,
                    CLEAN_BATCH),
               Work(f"{label}: {first[0]} x {n:,} points", net, "grad", first[1] * n, ATTACK_BATCH)]
        if c.use_cwl2:
            k = c.cw_steps * c.attack_binary_steps
            out.append(Work(f"{label}: CW-L2, {c.cw_steps} x {c.attack_binary_steps} steps x {n:,} points",
                            net, "grad", k * n, ATTACK_BATCH))
        return out

    # ------------------------------------------------------------------ stages
    def stage(self, name: str) -> StagePlan:
        p, rest = name.split("/", 1)
        if rest == "synthetic":
            return self.synthetic(name, p)
        if rest.startswith("sweep/"):
            return self.sweep(name, p, rest.split("/", 1)[1])
        if rest.startswith("real/"):
            return self.real(name, p, rest.split("/", 1)[1])
        variant, model = rest.split("/")
        return self.model(name, p, variant, model)

    def synthetic(self, name: str, p: str) -> StagePlan:
        works = []
        latent, shape = self.cfg.mfa_latent_dim, self.shape(p)
        for c, (n, k) in enumerate(zip(self.class_counts(p), self.components(p), strict=True)):
            net = Net(f"MFA EM ({k} components, latent {latent}) {'x'.join(map(str, shape))}",
                      lambda d: torch.nn.Identity(), shape, F64)
            w = Work(f"{name}: EM, {self.cfg.mfa_iterations} iterations x {n:,} class-{c} images",
                     net, "forward", self.cfg.mfa_iterations * n, EM_BATCH)
            self.pricer.preset(w, em_cost(k, latent, shape))
            works.append(w)
        return StagePlan(name, works, note="EM iterations are an upper bound (tol stops earlier)")

    def model(self, name: str, p: str, variant: str, model: str) -> StagePlan:
        c, shape = self.cfg, self.shape(p)
        n_train, n_test = 2 * c.n_train, 2 * c.n_test
        k0, k1 = self.components(p)
        if variant == "asymmetric":
            k0, k1 = k0 + 1, k1 + 1  # one outlier component per class
        if model == "bayes_optimal":
            return StagePlan(name, self.attack(name, bayes(k0, k1, c.mfa_latent_dim, shape),
                                               c.n_attack, n_test, bayes_model=True))
        widest = max(c.cnn_widths)
        if model == "cnn":
            works = [w for width in sorted(c.cnn_widths)
                     for w in self.train_cnn(f"{name} width {width}", allconv(width, shape), n_train,
                                             c.cnn_epochs, n_test)]
            return StagePlan(name, works + self.attack(name, allconv(widest, shape), c.n_attack, n_test),
                             note="every searched width trained; the widest attacked (upper bound)")
        if model == "trades_cnn":
            net = allconv(widest, shape)
            works = self.train_cnn(name, net, 2 * n_train, c.trades_epochs, n_test)  # natural + adversarial
            works.append(Work(f"{name}: TRADES inner maximisation, {c.trades_steps} steps", net, "grad",
                              c.trades_epochs * n_train * c.trades_steps, c.cnn_batch_size))
            return StagePlan(name, works + self.attack(name, net, c.n_attack, n_test))
        return self.svm_stage(name, model.removesuffix("_svm"), n_train, n_test, shape, c.n_attack)

    def svm_stage(self, name: str, kind: str, n_train: int, n_test: int,
                  shape: tuple[int, int, int], n_attack: int) -> StagePlan:
        net, d = svm(kind, n_train, shape), math.prod(shape)
        fits = [Fit(f"{name}: scikit-learn SVC fit", kind, n_train, d,
                    1 if kind == "linear" else len(self.cfg.svm_gammas))]
        works = self.attack(name, net, n_attack, n_test)
        if kind == "rbf":
            works.append(Work(f"{name}: validation accuracy per gamma", net, "forward",
                              len(self.cfg.svm_gammas) * n_test, CLEAN_BATCH, cpu_only=True))
            works.append(Work(f"{name}: FMN start at the nearest training point", net, "forward",
                              n_train, CLEAN_BATCH, cpu_only=True))
        return StagePlan(name, works, fits, note="every training point a support vector (upper bound)")

    def sweep(self, name: str, p: str, what: str) -> StagePlan:
        c, shape = self.cfg, self.shape(p)
        n_test, net = 2 * c.n_test, allconv(max(c.cnn_widths), shape)
        kind, _, value = what.partition("-")
        if kind == "width":
            width = int(value)
            cnn = allconv(width, shape)
            works = [] if width in c.cnn_widths else self.train_cnn(name, cnn, 2 * c.n_train, c.cnn_epochs, n_test)
            note = "the width search trained this width (shared folder)" if not works else ""
            return StagePlan(name, works + self.attack(name, cnn, c.sweep_n_attack, n_test), note=note)
        if kind == "samples":
            n = 2 * max(1, int(value) // 2)
            works = self.train_cnn(name, net, n, 1, n_test)
            return StagePlan(name, works + self.attack(name, net, c.sweep_n_attack, n_test))
        k0, k1 = self.components(p)
        works = self.train_cnn(name, net, 2 * c.n_train, c.cnn_epochs, n_test)
        works += self.attack(f"{name} Bayes-optimal", bayes(k0, k1, c.mfa_latent_dim, shape),
                             c.sweep_n_attack, n_test, bayes_model=True)
        return StagePlan(name, works + self.attack(f"{name} CNN", net, c.sweep_n_attack, n_test))

    def real(self, name: str, p: str, kind: str) -> StagePlan:
        c, f = self.cfg, self.pair(p)
        n = sum(self.class_counts(p))
        n_tr, n_val = n - max(2, n // 5), max(2, n // 5)
        if kind == "cnn":
            net = allconv(max(c.cnn_widths), f.shape)
            works = self.train_cnn(name, net, n_tr, c.cnn_epochs, n_val)
            return StagePlan(name, works + self.attack(name, net, min(c.n_attack, f.n_test), f.n_test))
        return self.svm_stage(name, kind.removesuffix("_svm"), n_tr, f.n_test, f.shape,
                              min(c.n_attack, f.n_test))


def stage_plans(cfg: RichardsonConfig, data_root: str | None, pricer: Pricer) -> list[StagePlan]:
    """The works of every stage of the recipe's stage list (built, not run)."""
    ctx = RunContext(Path("plan"), "richardson2020", cfg, cfg.seed, "cpu", data_root)
    planner = Planner(cfg, data_root, pricer)
    return [planner.stage(st.name) for st in S.stages(ctx)]


def make_plan(cfg: RichardsonConfig, data_root: str | None = None, calibrate: bool = True
              ) -> dict[str, Any]:
    """The priced plan of a run of ``cfg`` (JSON-able; :func:`advlab.experiments.plan.render`
    prints it). Nothing is trained; ``calibrate=False`` skips the CPU timings."""
    t0 = time.perf_counter()
    pricer = Pricer(a100(), calibrate=calibrate)
    ctx = RunContext(Path("plan"), "richardson2020", cfg, cfg.seed, "cpu", data_root)
    planner = Planner(cfg, data_root, pricer)
    plans = [planner.stage(st.name) for st in S.stages(ctx)]
    facts = list(planner.facts.values())
    host = max((f.n_train + f.n_test) * math.prod(f.shape) * 4 for f in facts)
    notes = sorted({n for f in facts for n in f.notes})
    notes.append("host memory: one pair's real images as float32 (the largest pair)")
    plan = assemble("richardson2020", cfg, plans, pricer, notes, host)
    plan["seconds"] = round(time.perf_counter() - t0, 1)
    return plan


__all__ = ["Planner", "allconv", "bayes", "em_cost", "make_plan", "stage_plans", "svm"]
