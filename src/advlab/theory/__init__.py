"""The theory of both papers, as mathematics only (no files, no figures, no reports).

* :mod:`advlab.theory.gaussian`: the features paper's Gaussian robust MLE (Section 4,
  Appendix E): Lemma 1, Theorems 1-3, the numerical robust MLE.
* :mod:`advlab.theory.linear2d`: Figure 14's accurate-but-not-robust linear classifiers.
* :mod:`advlab.theory.toy2d`: the Bayes-optimal paper's 2-D distributions (Section 2).
* :mod:`advlab.theory.boundary`: exact distances to their Bayes-optimal boundaries.

The recipe that runs and reports them is :mod:`advlab.experiments.theory`
(``advlab theory gaussian|toy2d``).
"""
