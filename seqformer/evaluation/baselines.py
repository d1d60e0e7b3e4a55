"""Baselines without a Transformer: k-mer-spectrum logistic regression for sequence classification.

Axes: N sequences, F = 4**k features. A sequence's spectrum is the count of each overlapping
k-mer (counted with :class:`~seqformer.tokenizers.KmerTokenizer`; k-mers holding N are skipped),
divided by the number of counted k-mers, so sequences of any length are comparable.
The classifier is scikit-learn's ``LogisticRegressionCV`` on standardised spectra: the L2 strength
is picked from ``Cs`` by cross-validated AUROC on the training windows (5 folds, fewer when a class
has fewer windows; plain ``LogisticRegression(C=1)`` when a class has just one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from seqformer.tokenizers import KmerTokenizer


def kmer_spectrum(seqs: Sequence[str], k: int = 4) -> np.ndarray:
    """(N, 4**k) float32 k-mer frequencies of each sequence (rows sum to 1, or 0 with no k-mer)."""
    tokenizer = KmerTokenizer(k, 1)
    first = int(tokenizer.body_ids[0])  # the canonical layout: k-mer ids follow the special tokens
    out = np.zeros((len(seqs), 4**k), dtype=np.float32)
    for i, seq in enumerate(seqs):
        ids = tokenizer.encode(seq, add_special_tokens=False).astype(np.int64)
        ids = ids[tokenizer.is_body(ids)] - first
        if ids.size:
            out[i] = np.bincount(ids, minlength=4**k) / ids.size
    return out


@dataclass
class KmerLogisticRegression:
    """Binary classifier: k-mer spectrum → standardise → L2 logistic regression."""

    k: int = 4  # k-mer length of the spectrum (4**k features)
    Cs: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 0.1, 1.0)  # inverse L2 strengths tried by cross-validation
    seed: int = 0  # random_state of the solver
    pipeline: Pipeline | None = field(default=None, repr=False)  # the fitted model (after fit)

    def fit(self, seqs: Sequence[str], labels: Sequence[int] | np.ndarray) -> KmerLogisticRegression:
        """Fit on sequences and 0/1 labels; returns self."""
        return self.fit_features(kmer_spectrum(seqs, self.k), labels)

    def fit_features(self, spectra: np.ndarray, labels: Sequence[int] | np.ndarray) -> KmerLogisticRegression:
        """Fit on precomputed (N, 4**k) spectra (:func:`kmer_spectrum`) and 0/1 labels; returns self."""
        y = np.asarray(labels, dtype=int)
        folds = min(5, int(np.bincount(y, minlength=2).min()))
        if folds >= 2:
            classifier = LogisticRegressionCV(Cs=list(self.Cs), cv=folds, scoring="roc_auc", max_iter=2000,
                                              l1_ratios=(0.0,), use_legacy_attributes=False, random_state=self.seed)
        else:
            classifier = LogisticRegression(C=1.0, max_iter=2000, random_state=self.seed)
        self.pipeline = make_pipeline(StandardScaler(), classifier)
        self.pipeline.fit(spectra, y)
        return self

    @property
    def C(self) -> float:
        """The inverse L2 strength used (picked by cross-validation when there were enough windows)."""
        if self.pipeline is None:
            raise ValueError("fit the baseline first")
        found = self.pipeline[-1]
        return float(np.ravel(found.C_)[0]) if hasattr(found, "C_") else float(found.C)

    def predict_proba(self, seqs: Sequence[str]) -> np.ndarray:
        """(N,) probability of label 1 for each sequence."""
        return self.predict_proba_features(kmer_spectrum(seqs, self.k))

    def predict_proba_features(self, spectra: np.ndarray) -> np.ndarray:
        """(N,) probability of label 1 from precomputed spectra."""
        if self.pipeline is None:
            raise ValueError("fit the baseline before predicting")
        return self.pipeline.predict_proba(spectra)[:, 1]
