"""Sequence classifiers as scorers: DNA strings in, probabilities out (the inference layer's core).

Axes: B windows, L tokens, T labels. :func:`classifier_probs` runs a classifier on a batch of
strings; :func:`predict_probs` runs it on any number of strings in batches, on the forward strand
or averaged over both strands (:data:`STRANDS`; DeepSEA averages a window and its reverse
complement the same way). Fine-tuning's validation, evaluation, scans and variant scoring all
score through :func:`predict_probs`. Load a classifier with
``seqformer.models.load_model(path, expect=SequenceClassifier)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from seqformer.errors import InputError
from seqformer.io.sequence import reverse_complement
from seqformer.predict.windows import batched

#: how :func:`predict_probs` reads each window: "both" averages it with its reverse complement.
STRANDS = ("both", "forward")


def label_index(model, label: str) -> int:
    """Index of ``label`` among the model's outputs; InputError naming the labels it has."""
    labels = tuple(model.config.labels)
    if label not in labels:
        raise InputError(f"the model has no output {label!r}; its labels are {list(labels)}")
    return labels.index(label)


@torch.no_grad()
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


def predict_probs(model, seqs: Sequence[str], *, batch_size: int = 64, device: torch.device | str | None = None,
                  strands: str = "forward") -> np.ndarray:
    """(N, T) float64 probabilities of ``model`` (in eval mode) for ``seqs``, ``batch_size`` windows per pass.

    ``strands="both"`` scores each window and its reverse complement and averages the two
    probabilities (twice the forward passes); ``"forward"`` scores the windows as given.
    """
    if strands not in STRANDS:
        raise ValueError(f"strands must be one of {STRANDS}, got {strands!r}")
    seqs = list(seqs)
    if strands == "both":
        probs = predict_probs(model, seqs + [reverse_complement(s) for s in seqs], batch_size=batch_size,
                              device=device)
        return (probs[:len(seqs)] + probs[len(seqs):]) / 2
    out = [classifier_probs(model, batch, device) for batch in batched(seqs, batch_size)]
    return np.concatenate(out).astype(np.float64) if out else np.zeros((0, len(model.config.labels)))
