"""Evaluation: clean / robust accuracy, accuracy vs steps, transfer, minimum-norm statistics
and automatic sanity checks."""

from advlab.evaluate.accuracy import accuracy_vs_steps, clean_accuracy, robust_accuracy
from advlab.evaluate.checks import SanityWarning
from advlab.evaluate.minnorm import min_norm_stats, plot_perturbation_histogram
from advlab.evaluate.transfer import transfer_success

__all__ = ["accuracy_vs_steps", "clean_accuracy", "robust_accuracy", "SanityWarning",
           "min_norm_stats", "plot_perturbation_histogram", "transfer_success"]
