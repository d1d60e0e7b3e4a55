"""Tasks: what a model is trained on (batches, loss, validation) and the runs that train it.

Axes: B batch, L tokens, V vocabulary, T targets. :mod:`.mlm` is the masked-LM task and
:mod:`.pretraining` the ``seqformer pretrain`` run around it; :mod:`.classification` fine-tunes a
classifier on a labelled-window folder; :mod:`.window_tasks` names the window tasks (promoter,
chromatin, tf-binding) with their defaults. Scoring lives in :mod:`seqformer.evaluation`.
"""

from seqformer.tasks.mlm import MaskedLMTask

__all__ = ["MaskedLMTask"]
