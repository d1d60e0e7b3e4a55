"""The training engine: run configs, the loop, checkpoints, metrics and DDP. It knows no task.

Axes: B batch, L tokens. :func:`train` runs any task (batches + loss + validation, see
:class:`seqformer.training.loop.Task`) on a model; the run configs of pretraining and fine-tuning
are one family (:mod:`seqformer.training.config`). The runs themselves are tasks:
:mod:`seqformer.tasks.pretraining` and :mod:`seqformer.tasks.classification`.
"""

from seqformer.training.config import (
    FinetuneConfig,
    FinetuneOptions,
    ModelOptions,
    OptimConfig,
    RunConfig,
    TrainConfig,
    load_run_config,
)
from seqformer.training.loop import DivergedError, TrainResult, train

__all__ = ["DivergedError", "FinetuneConfig", "FinetuneOptions", "ModelOptions", "OptimConfig", "RunConfig",
           "TrainConfig", "TrainResult", "load_run_config", "train"]
