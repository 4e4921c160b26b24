"""Recipe ``ilyas2019``: "Adversarial Examples Are Not Bugs, They Are Features".

>>> from advlab.experiments import ilyas2019
>>> results = ilyas2019.run("runs/ilyas", dataset="mnist5k", scale="quick")
>>> results["table7"]["rows"]["d_r"]["robust"]["1.0"]

Also ``advlab reproduce ilyas2019 --dataset mnist5k --scale quick --out runs/ilyas``.
"""

from advlab.experiments.ilyas2019.config import IlyasConfig, TrainSettings, resolve_config
from advlab.experiments.ilyas2019.pipeline import run
from advlab.experiments.ilyas2019.report import add_report_sections

#: wall time (s) of the quick preset on an idle 2-core CPU machine, measured inside
#: `make demo` from a fresh clone (seed 0): 294 s of stage time, about 5 minutes.
QUICK_BUDGET_S: float = 300.0

__all__ = ["QUICK_BUDGET_S", "IlyasConfig", "TrainSettings", "add_report_sections", "resolve_config", "run"]
