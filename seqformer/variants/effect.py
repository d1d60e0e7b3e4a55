"""Classifier scores of variants: REF vs ALT probabilities per target, both strands averaged.

Axes: N alleles, T targets (the model's ``config.labels``). Each allele's REF and ALT windows
(:mod:`seqformer.variants.windows`) are scored on the forward strand and as reverse complements;
``p_ref`` and ``p_alt`` are the means of the two strands' probabilities (DeepSEA averages strands
the same way). From them, per target (kipoi / DeepSEA conventions):

- ``delta_p = p_alt - p_ref``;
- ``delta_logit = logit(p_alt) - logit(p_ref)`` (kipoi's ``logit_diff``), with each p clipped to
  ``[EPS, 1 - EPS]`` first so that probabilities of exactly 0 or 1 stay finite;
- ``abs_logit_x_abs_p = |delta_logit| * |delta_p|`` (DeepSEA's combined functional score).

Works with any model that has ``.tokenizer``, ``.predict_proba`` and a forward returning
``.logits`` (a :class:`~seqformer.models.classifier.SequenceClassifier`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from seqformer.predict.scorer import predict_probs
from seqformer.variants.windows import AlleleWindows

#: probabilities are clipped to [EPS, 1 - EPS] before taking logits.
EPS = 1e-6
#: the per-target scores, in output-column order.
METRICS = ("p_ref", "p_alt", "delta_p", "delta_logit", "abs_logit_x_abs_p")


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` in float64, with ``p`` clipped to ``[EPS, 1 - EPS]``."""
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


@dataclass(frozen=True)
class Effects:
    """Strand-averaged probabilities of N alleles' REF and ALT windows, and the scores derived from them."""

    p_ref: np.ndarray  # (N, T) float64, mean over both strands of the REF window's probabilities
    p_alt: np.ndarray  # (N, T) float64, the same for the ALT window

    @property
    def delta_p(self) -> np.ndarray:
        """(N, T) ``p_alt - p_ref``."""
        return self.p_alt - self.p_ref

    @property
    def delta_logit(self) -> np.ndarray:
        """(N, T) ``logit(p_alt) - logit(p_ref)`` (clipped, see :func:`logit`)."""
        return logit(self.p_alt) - logit(self.p_ref)

    @property
    def abs_logit_x_abs_p(self) -> np.ndarray:
        """(N, T) ``|delta_logit| * |delta_p|``."""
        return np.abs(self.delta_logit) * np.abs(self.delta_p)

    def metric(self, name: str) -> np.ndarray:
        """(N, T) one of :data:`METRICS` by name."""
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; known: {METRICS}")
        return getattr(self, name)


def variant_effect(model, windows: Sequence[AlleleWindows], *, batch_size: int = 64,
                   device: torch.device | str | None = None) -> Effects:
    """:class:`Effects` of ``model`` for the alleles whose windows are ``windows``.

    Args:
        model: a sequence classifier on ``device``, in eval mode.
        windows: one :class:`AlleleWindows` per allele, each window as long as the model's.
        batch_size: windows per forward pass (each allele has four: REF and ALT, both strands).
        device: where the inputs go (default: where the model's parameters are).
    """
    n = len(windows)
    seqs = [w.ref for w in windows] + [w.alt for w in windows]
    probs = predict_probs(model, seqs, batch_size=batch_size, device=device, strands="both")  # (2N, T)
    return Effects(probs[:n], probs[n:])
