"""Attacks: threat model, PGD, CW-L2, minimum-norm (FMN)."""

from advlab.attacks.pgd import pgd_perturb
from advlab.attacks.threat import ThreatModel

__all__ = ["pgd_perturb", "ThreatModel"]
