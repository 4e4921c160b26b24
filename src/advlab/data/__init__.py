"""Datasets: one name syntax for embedded, real, view and artifact datasets.

``load_dataset("mnist5k:0-6[:500]", split="train")`` -> (x float32 (N, C, H, W) in [0, 1],
y int64 (N,)). See docs/datasets.md and ``advlab datasets list``.
"""

from advlab.data.artifact import load_artifact, load_artifact_raw, save_artifact
from advlab.data.export import export_dataset
from advlab.data.registry import REGISTRY, DatasetInfo, describe, load_dataset, open_source
from advlab.data.source import Source

__all__ = [
    "load_dataset", "open_source", "describe", "REGISTRY", "DatasetInfo", "Source",
    "load_artifact", "load_artifact_raw", "save_artifact", "export_dataset",
]
