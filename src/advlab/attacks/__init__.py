"""Attacks: threat model, PGD, APGD / APGD-T, FAB-T, Square, Carlini-Wagner L2 and Fast
Minimum-Norm (FMN) L2.

Fixed-eps attacks are called ``attack(model, x, y, *, eps=1.0 or [..], target=None)``;
minimum-norm attacks ``attack(model, x, y, *, target=None, init=None)``. Both return a
verified :class:`AttackResult`. ``pgd_perturb`` is the raw, unverified PGD loop for
training and dataset construction.
"""

from advlab.attacks.apgd import APGD, APGDT, APGDEnsemble
from advlab.attacks.base import (
           Attack,
           AttackResult,
           AttackVerificationError,
           FixedEpsAttack,
           MinNormAttack,
)
from advlab.attacks.cw import CWL2
from advlab.attacks.fab import FAB, FABT
from advlab.attacks.fmn import FMN
from advlab.attacks.pgd import PGD, pgd_perturb
from advlab.attacks.sanity import SanityWarning
from advlab.attacks.square import Square
from advlab.attacks.threat import ThreatModel

__all__ = ["APGD", "APGDT", "APGDEnsemble", "Attack", "AttackResult", "AttackVerificationError", "FixedEpsAttack",
           "MinNormAttack", "CWL2", "FAB", "FABT", "FMN", "PGD", "Square", "pgd_perturb",
           "SanityWarning", "ThreatModel"]
