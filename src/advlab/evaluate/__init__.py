"""Evaluation: clean / robust accuracy (the default protocol, AutoAttack), accuracy vs steps,
transfer, minimum-norm statistics and automatic sanity checks."""

from advlab.evaluate.accuracy import (
    accuracy_vs_steps,
    clean_accuracy,
    protocol_attack,
    robust_accuracy,
    robust_flags,
)
from advlab.evaluate.autoattack import AutoAttackResult, autoattack
from advlab.evaluate.checks import SanityWarning
from advlab.evaluate.minnorm import min_norm_stats, plot_perturbation_histogram
from advlab.evaluate.transfer import transfer_success

__all__ = ["accuracy_vs_steps", "clean_accuracy", "protocol_attack", "robust_accuracy",
           "robust_flags", "autoattack", "AutoAttackResult", "SanityWarning",
           "min_norm_stats", "plot_perturbation_histogram", "transfer_success"]
