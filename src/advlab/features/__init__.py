"""Ilyas et al. (2019) dataset constructions: D_R / D_NR (robustify), D_rand / D_det (relabel).

>>> from advlab.features import construct_dataset
>>> construct_dataset("robust", source_checkpoint="runs/robust/last", dataset="mnist5k",
...                   out="runs/d_r", steps=200, step_size=0.1, n=1000)

The inversion's optimizer is ``"paper"`` (fixed-length normalised steps, the default) or
``"polyak"`` (steps as long as Polyak's, capped: fewer gradient evaluations): see
:data:`OPTIMIZERS`.
"""

from advlab.features.construct import KINDS, POLYAK_DEFAULTS, construct_dataset, resolve_config
from advlab.features.relabel import (
    TABLE6,
    TARGET_RULES,
    RelabelConfig,
    RelabelResult,
    choose_targets,
    relabel,
)
from advlab.features.robustify import (
    OPTIMIZERS,
    POLYAK_FACTOR,
    TABLE5,
    RepDistance,
    RobustifyConfig,
    robustify,
)
from advlab.features.shards import ShardPlan, assemble, run_shards, wait_for_shards
from advlab.seeding import shard_seed

__all__ = [
    "KINDS", "OPTIMIZERS", "POLYAK_DEFAULTS", "POLYAK_FACTOR", "TABLE5", "TABLE6", "TARGET_RULES",
    "RelabelConfig", "RelabelResult", "RepDistance", "RobustifyConfig", "ShardPlan", "assemble",
    "choose_targets", "construct_dataset", "relabel", "resolve_config", "robustify", "run_shards",
    "shard_seed", "wait_for_shards",
]
