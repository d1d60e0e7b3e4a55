"""Evaluation in one place: window metrics, genome-scan metrics and masked-LM metrics.

Axes: N windows, T targets. :mod:`.windows` scores classifiers on a data folder's test split
beside the k-mer baselines of :mod:`.baselines`; :mod:`.scan` scores genome-scan calls against
annotated TSSs; :mod:`.mlm` scores masked LMs beside a unigram baseline. Model outputs come from
the inference layer (:mod:`seqformer.predict`), never from a task.
"""
