"""Stage: fit one MFA per class of a real pair, build the symmetric and asymmetric
densities and sample their train / test sets (Section 3, Appendix B.1-B.2).

Folder layout inside the stage folder ``<pair>/synthetic``::

    fitted/      the class MFAs as fitted (SyntheticPair.save)
    symmetric/   every noise std set to ``symmetric_noise_std``
    asymmetric/  symmetric + one outlier component per class
    data-symmetric/, data-asymmetric/   float32 dataset artifacts (never clipped)
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from torch import Tensor

from advlab.bayes import SyntheticPair, fit_class_mfas, make_synthetic
from advlab.data import load_artifact, load_dataset
from advlab.errors import bad_argument
from advlab.experiments.richardson2020.config import RichardsonConfig
from advlab.seeding import derive_seed, generator, seeded_subset

VARIANTS = ("symmetric", "asymmetric")


def real_pair(cfg: RichardsonConfig, pair: str, split: str, data_root: str | None
              ) -> tuple[Tensor, Tensor]:
    """The real images of a pair as a binary view: x (N, C, H, W) in [0, 1], y (N,) in {0, 1}.

    Cached per process (parsing some sources takes seconds); callers must not modify
    the returned tensors in place.
    """
    x, y = _load_view(f"{cfg.dataset}:{pair}", split, data_root)
    if split == "train" and 0 < cfg.real_train_limit < len(x):
        keep = seeded_subset(len(x), cfg.real_train_limit, derive_seed(cfg.seed, "real_train_limit"),
                             sort=True)
        x, y = x[keep], y[keep]
    return x, y


@functools.lru_cache(maxsize=8)
def _load_view(name: str, split: str, data_root: str | None) -> tuple[Tensor, Tensor]:
    return load_dataset(name, split=split, data_root=data_root)


def _outside_box(x: Tensor) -> dict[str, float]:
    """Fractions of pixel values outside [0, 1] and beyond +-0.01 of it (docs/bayes.md: MFA samples leave [0, 1])."""
    return {"frac_outside_01": float(((x < 0) | (x > 1)).float().mean()),
            "frac_beyond_001": float(((x < -0.01) | (x > 1.01)).float().mean())}


def build_synthetic(d: Path, cfg: RichardsonConfig, pair: str, data_root: str | None,
                    device: str = "cpu") -> dict[str, Any]:
    """Fit, derive and sample everything for one pair into ``d``; return a JSON summary."""
    x, y = real_pair(cfg, pair, "train", data_root)
    if not cfg.outlier_pc <= min(len(x), x[0].numel()):  # a principal direction of the data
        raise bad_argument("outlier_pc", cfg.outlier_pc,
                           f"an integer in [1, {min(len(x), x[0].numel())}] for {len(x)} training images")
    k: int | str = cfg.mfa_components if cfg.mfa_components > 0 else "samples/1000"
    m0, m1 = fit_class_mfas(x, y, classes=(0, 1), n_components=k, n_factors=cfg.mfa_latent_dim,
                            max_iter=cfg.mfa_iterations, random_state=cfg.seed,
                            device=device if device != "cpu" else "cpu")
    fitted = make_synthetic(m0, m1, variant="fitted")
    fitted.save(d / "fitted")
    summary: dict[str, Any] = {
        "n_real_train": len(x),
        "n_components": [m0.n_components, m1.n_components],
        "latent_dim": cfg.mfa_latent_dim,
        "mfa_train_ll": [m0.ll_history_[-1], m1.ll_history_[-1]],
        "mfa_iterations": [m0.n_iter_, m1.n_iter_],
    }
    for variant in VARIANTS:
        pair_model = make_synthetic(m0, m1, variant=variant, noise_std=cfg.symmetric_noise_std,
                                    data=x, outlier_rank=cfg.outlier_pc,
                                    outlier_variance=cfg.outlier_variance)
        pair_model.save(d / variant)
        pair_model.save_dataset(d / f"data-{variant}", cfg.n_train, cfg.n_test, seed=cfg.seed,
                                name=f"{cfg.dataset}:{pair}-{variant}")
        xs, _ = load_artifact(d / f"data-{variant}", "train")
        summary[variant] = _outside_box(xs)
    return summary


def load_variant(d: Path, variant: str, device: str = "cpu"
                 ) -> tuple[SyntheticPair, tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """Read back a variant: (densities, (x_train, y_train), (x_test, y_test))."""
    pair_model = SyntheticPair.load(d / variant, device=device)
    return (pair_model, load_artifact(d / f"data-{variant}", "train"),
            load_artifact(d / f"data-{variant}", "test"))


def noisy_variant(d: Path, noise_std: float, device: str = "cpu") -> SyntheticPair:
    """The symmetric densities with every noise std set to ``noise_std`` (Figure 10)."""
    fitted = SyntheticPair.load(d / "fitted", device=device)
    return make_synthetic(fitted.mfa0, fitted.mfa1, variant="symmetric", noise_std=noise_std)


def sample_split(pair_model: SyntheticPair, n_per_class: int, seed: int) -> tuple[Tensor, Tensor]:
    """Fresh shuffled samples x (2n, C, H, W) float32, y (2n,), never clipped."""
    g = generator(seed)
    return pair_model.sample(n_per_class, g)
