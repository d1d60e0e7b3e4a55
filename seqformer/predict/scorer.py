"""Sequence classifiers as scorers: DNA strings in, probabilities out.

Axes: B windows, L tokens, T labels. :func:`load_classifier` loads a model folder and refuses
anything that is not a :class:`~seqformer.models.classifier.SequenceClassifier` (a masked LM, a
bare encoder); :func:`classifier_probs` runs it on a batch of strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from seqformer.errors import InputError


def load_classifier(directory: str | Path, device: torch.device | str = "cpu"):
    """A :class:`SequenceClassifier` from ``directory`` in eval mode; InputError for any other model folder."""
    from seqformer.models.classifier import SequenceClassifier

    return SequenceClassifier.from_pretrained(directory, map_location=device).eval()


def label_index(model, label: str) -> int:
    """Index of ``label`` among the model's outputs; InputError naming the labels it has."""
    labels = tuple(model.config.labels)
    if label not in labels:
        raise InputError(f"the model has no output {label!r}; its labels are {list(labels)}")
    return labels.index(label)


@torch.inference_mode()
def classifier_probs(model, seqs: Sequence[str], device: torch.device | str | None = None) -> np.ndarray:
    """Probabilities (B, T) of ``model`` for the DNA strings ``seqs`` (one forward pass)."""
    device = next(model.parameters()).device if device is None else torch.device(device)
    enc = model.tokenizer.batch_encode(list(seqs), padding="longest")
    logits = model(enc.input_ids.to(device), enc.attention_mask.to(device)).logits  # (B, T)
    return model.predict_proba(logits).float().cpu().numpy()


def classifier_scorer(model, label: str = "promoter"):
    """A scorer for :mod:`seqformer.predict.scan`: strings -> probability of ``label``, shape (B,)."""
    index = label_index(model, label)

    def score(seqs: Sequence[str]) -> np.ndarray:
        return classifier_probs(model, seqs)[:, index]

    return score
