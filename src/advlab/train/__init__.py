"""Training: standard, PGD adversarial training and TRADES; checkpoints, resume, DDP.

>>> from advlab.train import TrainConfig, AdvConfig, train
>>> result = train(TrainConfig(dataset="mnist5k", model="cnn", epochs=4), "runs/cnn")
>>> result.final["test_acc"]
"""

from advlab.train.config import AdvConfig, TrainConfig, parse_adv, parse_kwargs
from advlab.train.loop import TrainResult, lr_at, read_results, train

__all__ = ["AdvConfig", "TrainConfig", "TrainResult", "train", "parse_adv", "parse_kwargs",
           "lr_at", "read_results"]
