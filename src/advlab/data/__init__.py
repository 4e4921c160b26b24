"""Datasets: one name syntax for embedded, real, view and artifact datasets."""

from advlab.data.artifact import load_artifact, save_artifact
from advlab.data.registry import load_dataset

__all__ = ["load_dataset", "load_artifact", "save_artifact"]
