"""``advlab demo``: both papers end to end on mnist5k, and the theory, in one report.

Stages (each cached in its own sub-folder of ``--out``, so a second run reuses them):

1. ``theory-gaussian``  — features paper §4 / App. E: robust MLE of a Gaussian.
2. ``theory-toy2d``     — Bayes-optimal paper §2: the eight 2-D distributions.
3. ``richardson2020``   — Bayes-optimal paper, quick preset, mnist5k pair 0-6.
4. ``ilyas2019``        — features paper, quick preset, mnist5k.

Then one combined ``report.md`` / ``report.html`` / ``results.json`` at the top of
``--out``.
"""

from advlab.experiments.demo.run import STAGES, run

__all__ = ["STAGES", "run"]
