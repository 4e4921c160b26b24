"""Configuration of the Bayes-optimal recipe: one typed dataclass, presets per scale.

The paper's settings (Richardson & Weiss, Appendices B-D) are the ``full`` preset:
MFA with 25 components per class and latent dimension 6 on MNIST (CelebA: samples/1000
components, latent 10), symmetric noise std 0.001, asymmetric outliers along the 50th
principal direction with variance 0.5, CW-L2 with 500 iterations / 3 binary-search
steps / learning rate 0.01, the all-conv CNN at the smallest width reaching ~100%,
the RBF SVM at the largest gamma that keeps a high accuracy, TRADES with beta 10,
1 million on-the-fly samples in mini-batches of 50 for Figure 9, noise std 0.001 to
0.05 for Figure 10.

``quick`` shrinks every count so that the whole recipe runs in about 4-5 minutes on
2 CPU cores (mnist5k pair 0-6); ``tiny`` (best with ``dataset="digits"``, 8x8 images) is
for the CI test only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from advlab.errors import AdvlabError, bad_argument
from advlab.overrides import apply_overrides

SCALES = ("tiny", "quick", "medium", "full")
DATASETS = ("mnist5k", "fashion-mnist", "mnist", "celeba", "digits")
#: Default pairs per dataset (the paper's MNIST pairs; two Fashion-MNIST pairs, see docs).
DEFAULT_PAIRS: dict[str, tuple[str, ...]] = {
    "mnist5k": ("0-6", "2-7", "4-5"),
    "mnist": ("0-6", "2-7", "4-5"),
    "fashion-mnist": ("2-7", "4-5"),
    "celeba": ("Male", "Smiling", "Bangs", "Heavy_Makeup", "Eyeglasses"),
    "digits": ("0-6",),  # scikit-learn's 8x8 digits: smoke tests only
}


@dataclass(frozen=True)
class RichardsonConfig:
    """Every setting of one ``advlab reproduce richardson2020`` run.

    Counts are per class unless named ``n_*_total``; widths are the all-conv CNN's
    first-layer filters; ``attack_*`` are the CW-L2 settings used on every model.
    """

    scale: str = "quick"
    dataset: str = "mnist5k"
    pairs: tuple[str, ...] = ("0-6",)
    seed: int = 0
    real_train_limit: int = 0            # at most this many real training images per pair (0: all)
    # ---- MFA and the synthetic datasets (App. B.1-B.2)
    mfa_components: int = 4              # per class; 0 = paper's CelebA rule (n / 1000)
    mfa_latent_dim: int = 6
    mfa_iterations: int = 20
    symmetric_noise_std: float = 0.001
    outlier_pc: int = 50                 # eigenvector index for the asymmetric outliers
    outlier_variance: float = 0.5
    n_train: int = 1000                  # synthetic training samples per class
    n_test: int = 100                    # synthetic test samples per class
    # ---- compared models (App. B.3-B.5, D.3)
    cnn_widths: tuple[int, ...] = (4, 8, 16)   # searched; smallest reaching cnn_target
    cnn_target_accuracy: float = 0.99
    cnn_epochs: int = 4
    cnn_batch_size: int = 50
    cnn_lr: float = 1e-3
    svm_gammas: tuple[float, ...] = (10.0, 3.0, 1.0)  # in units of sklearn's 1/(D * Var x)
    rbf_min_accuracy: float = 0.98
    svm_c: float = 1.0
    trades: bool = True
    trades_beta: float = 10.0
    trades_eps: float = 1.5
    trades_steps: int = 3
    trades_epochs: int = 2
    # ---- attacks (App. C)
    n_attack: int = 40                   # test points attacked per model (total)
    attack_steps: int = 100              # FMN steps
    use_cwl2: bool = False               # also run CW-L2 (paper's attack) on every model
    cw_steps: int = 500
    attack_binary_steps: int = 3
    attack_lr: float = 0.01
    ldgrad_steps: int = 3
    # ---- sweeps (App. D.1, D.2) and real data (D.4), on the first pair only
    sweep_widths: tuple[int, ...] = (4, 8)
    sweep_samples_total: tuple[int, ...] = (2000, 8000)  # on-the-fly, batches of 50
    sweep_noise_stds: tuple[float, ...] = (0.001, 0.05)
    sweep_n_attack: int = 30
    real_data: bool = True
    models_on_asymmetric: bool = False

    def validate(self) -> RichardsonConfig:
        """Check every field; raise :class:`AdvlabError` naming the first bad one."""
        if self.scale not in SCALES:
            raise bad_argument("scale", self.scale, " | ".join(SCALES))
        if self.dataset not in DATASETS:
            raise bad_argument("dataset", self.dataset, " | ".join(DATASETS))
        if not self.pairs:
            raise bad_argument("pairs", "", "a comma-separated list such as 0-6,2-7")
        for name in ("n_train", "n_test", "n_attack", "mfa_latent_dim", "mfa_iterations",
                     "cnn_epochs", "cnn_batch_size", "attack_steps", "cw_steps",
                     "attack_binary_steps", "ldgrad_steps", "sweep_n_attack", "trades_steps",
                     "trades_epochs"):
            if getattr(self, name) < 1:
                raise bad_argument(name, getattr(self, name), "an integer >= 1")
        if self.real_train_limit < 0:
            raise bad_argument("real_train_limit", self.real_train_limit, "an integer >= 0 (0 = all)")
        if self.mfa_components < 0:
            raise bad_argument("mfa_components", self.mfa_components, "an integer >= 0 (0 = n/1000)")
        if not self.cnn_widths or min(self.cnn_widths) < 1:
            raise bad_argument("cnn_widths", self.cnn_widths, "a non-empty list of widths >= 1")
        if not self.svm_gammas or min(self.svm_gammas) <= 0:
            raise bad_argument("svm_gammas", self.svm_gammas, "a non-empty list of gammas > 0")
        if self.symmetric_noise_std <= 0 or min(self.sweep_noise_stds, default=1.0) <= 0:
            raise bad_argument("symmetric_noise_std", self.symmetric_noise_std, "a std > 0")
        if self.n_attack > 2 * self.n_test:
            raise bad_argument("n_attack", self.n_attack, f"at most 2 * n_test = {2 * self.n_test}")
        return self


_PRESETS: dict[str, dict[str, Any]] = {
    # CI only: seconds, not science.
    "tiny": dict(
        n_train=60, n_test=10, mfa_components=1, mfa_iterations=3, cnn_widths=(2,),
        cnn_epochs=1, svm_gammas=(1.0,), trades_steps=1, trades_epochs=1, n_attack=6,
        attack_steps=5, ldgrad_steps=1, sweep_widths=(2,), sweep_samples_total=(120,),
        sweep_noise_stds=(0.05,), sweep_n_attack=4,
    ),
    # The demo: a few minutes on 2 idle CPU cores (the defaults above).
    "quick": dict(),
    "medium": dict(
        mfa_components=8, mfa_iterations=50, n_train=4000, n_test=500, cnn_widths=(4, 8, 16, 32),
        cnn_epochs=8, svm_gammas=(30.0, 10.0, 3.0, 1.0), trades_steps=7, trades_epochs=8,
        n_attack=200, attack_steps=200, use_cwl2=True, cw_steps=200,
        sweep_widths=(4, 8, 16, 32), sweep_samples_total=(20_000, 100_000),
        sweep_noise_stds=(0.001, 0.01, 0.025, 0.05), sweep_n_attack=100, models_on_asymmetric=True,
    ),
    # The paper's settings (GPU).
    "full": dict(
        mfa_components=25, mfa_iterations=100, n_train=10_000, n_test=1000,
        cnn_widths=(4, 8, 16, 32, 64), cnn_epochs=20, svm_gammas=(30.0, 10.0, 3.0, 1.0, 0.3),
        trades_steps=10, trades_epochs=20, n_attack=1000, attack_steps=500, use_cwl2=True,
        cw_steps=500, sweep_widths=(4, 8, 16, 32),
        sweep_samples_total=(200_000, 400_000, 600_000, 1_000_000),
        sweep_noise_stds=(0.001, 0.01, 0.025, 0.05), sweep_n_attack=500, models_on_asymmetric=True,
    ),
}


#: Settings of a preset that depend on the dataset (Appendix B.1: "we set the number of
#: components as the number of samples divided by 1000 ... an MFA latent dimension of 10
#: for CelebA and 6 for MNIST").
_DATASET_PRESETS: dict[tuple[str, str], dict[str, Any]] = {
    ("full", "celeba"): dict(mfa_components=0, mfa_latent_dim=10),
}


def preset_config(dataset: str, scale: str, seed: int = 0, pairs: tuple[str, ...] = ("0-6",)
                  ) -> RichardsonConfig:
    """The preset of ``scale`` for ``dataset`` before any override."""
    return RichardsonConfig(scale=scale, dataset=dataset, pairs=pairs, seed=seed,
                            **{**_PRESETS[scale], **_DATASET_PRESETS.get((scale, dataset), {})})


def parse_pairs(text: str | tuple[str, ...] | list[str] | None, dataset: str) -> tuple[str, ...]:
    """``"0-6,2-7"`` -> ``("0-6", "2-7")``; None -> the dataset's default pairs.

    For class-indexed datasets a pair is ``A-B`` with two different class indices; for
    CelebA it is an attribute name (the two classes are attribute present / absent).
    """
    if text is None:
        return DEFAULT_PAIRS.get(dataset, ("0-6",))
    items = [p.strip() for p in (text.split(",") if isinstance(text, str) else text) if p.strip()]
    if not items:
        raise bad_argument("pairs", text, "a comma-separated list such as 0-6,2-7,4-5")
    if dataset == "celeba":
        return tuple(items)
    for p in items:
        a, sep, b = p.partition("-")
        if not (sep and a.isdigit() and b.isdigit() and a != b and int(a) < 10 and int(b) < 10):
            raise bad_argument("pairs", text, "pairs A-B of two different class indices 0-9, e.g. 0-6,2-7")
    return tuple(items)


#: config fields set by their own command-line option, not by ``--set``
RESERVED = {"scale": "--scale", "dataset": "--dataset", "pairs": "--pairs", "seed": "--seed"}


def make_config(dataset: str, scale: str = "quick", seed: int = 0,
                pairs: str | tuple[str, ...] | list[str] | None = None,
                overrides: Mapping[str, Any] | None = None, **kw: Any) -> RichardsonConfig:
    """Resolve a preset, the pairs and keyword overrides into a validated config.

    Overrides are typed by their field (:mod:`advlab.overrides`). ``quick`` and ``tiny``
    run only the first pair unless ``pairs`` is given.
    """
    if scale not in _PRESETS:
        raise bad_argument("scale", scale, " | ".join(SCALES))
    if dataset not in DATASETS:
        raise bad_argument("dataset", dataset, " | ".join(DATASETS))
    resolved = parse_pairs(pairs, dataset)
    if pairs is None and scale in ("tiny", "quick"):
        resolved = resolved[:1]
    preset = preset_config(dataset, scale, seed, resolved)
    cfg = apply_overrides(preset, {**(overrides or {}), **kw}, reserved=RESERVED)
    try:
        return cfg.validate()
    except AdvlabError as e:
        e.override = e.param not in RESERVED  # a setting of the config: set by --set
        raise
