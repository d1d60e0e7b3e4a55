"""Tasks: what a model is trained and evaluated on (batches, loss, metrics), one module per task.

Axes: B batch, L tokens, V vocabulary. :mod:`seqformer.tasks.mlm` is masked-LM pretraining
and its evaluation (``seqformer evaluate mlm``).
"""

from seqformer.tasks.mlm import MaskedLMTask, MLMEvaluation, evaluate_mlm

__all__ = ["MLMEvaluation", "MaskedLMTask", "evaluate_mlm"]
