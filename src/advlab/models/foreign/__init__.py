"""Checkpoints of other libraries imported as advlab checkpoints (see docs/models.md).

* :func:`import_robustness`: MadryLab ``robustness`` CIFAR ResNet-18 / ResNet-50 files (the
  features paper's own models) mapped onto advlab's ``resnet18`` / ``resnet50``.
* :func:`import_robustbench`: a RobustBench model-zoo architecture (built by the
  ``robustbench`` package) with the weights of a downloaded checkpoint file.

Both read the foreign file with ``torch.load(weights_only=True)`` only (a file that needs
code execution to load is refused), check logits on probe images, and write
``model.safetensors`` + ``config.json`` whose ``import`` entry records the source file's
sha256 and the checks. ``advlab.load_model(out)`` then loads the result like any advlab
checkpoint, with ``features(x)`` for dataset construction.

    >>> from advlab.models.foreign import import_robustness
    >>> rec = import_robustness("cifar_l2_0_5.pt", "models/l2-0.5")
    >>> rec["source_sha256"], rec["max_abs_logit_diff_reloaded"]
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Lazy: importing robustbench's model zoo takes seconds; do it only when asked.
    if name == "import_robustness":
        from advlab.models.foreign.robustness import import_robustness

        return import_robustness
    if name in ("import_robustbench", "RobustBenchModel"):
        from advlab.models.foreign import robustbench

        return getattr(robustbench, name)
    raise AttributeError(name)


__all__ = ["import_robustness", "import_robustbench", "RobustBenchModel"]
