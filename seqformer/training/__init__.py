"""The training engine: run configs, the loop, checkpoints, metrics, devices and DDP.

Axes: B batch, L tokens. :func:`train` runs any task (batches + loss + validation) on a model;
:func:`pretrain` builds a masked-LM run from a :class:`RunConfig` and runs it into a run folder.
"""

from seqformer.training.config import ModelOptions, OptimConfig, RunConfig, TrainConfig, load_run_config
from seqformer.training.loop import DivergedError, TrainResult, train
from seqformer.training.pretraining import build_model, pretrain, run_config

__all__ = ["DivergedError", "ModelOptions", "OptimConfig", "RunConfig", "TrainConfig", "TrainResult",
           "build_model", "load_run_config", "pretrain", "run_config", "train"]
