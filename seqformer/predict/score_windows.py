"""Scoring given BED windows with a sequence classifier: one row of probabilities per input row.

Axes: B windows per batch, T labels. Each row's bases are fetched on its strand (minus-strand rows
are reverse-complemented; ``.`` or no strand reads +), then fitted to the model's ``window`` with
:func:`~seqformer.predict.windows.fit_to_window`: longer rows are centre-cropped, shorter rows padded
with N on both sides (an odd base goes to the 3' end of the strand read). Nothing is cut from one end.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from seqformer.io.bed import bed_regions
from seqformer.predict.scorer import classifier_probs
from seqformer.predict.windows import batched, fit_to_window


def prob_columns(labels) -> list[str]:
    """Output column names: ``prob_<label>`` for each of the model's labels."""
    return [f"prob_{label}" for label in labels]


def score_bed_windows(model, genome, bed: pd.DataFrame, *, batch_size: int = 64, bed_path=None) -> pd.DataFrame:
    """``bed`` (from :func:`~seqformer.io.read_bed`) with a ``prob_<label>`` column per model output.

    Rows keep their input order. Every interval is checked against the genome before any is scored.
    """
    window = model.config.window
    targets = bed_regions(bed, genome.contigs, path=bed_path, source=genome.path.name)

    def seqs() -> Iterator[str]:
        for region, strand in targets:
            yield fit_to_window(genome.fetch_region(region, "-" if strand == "-" else "+"), window)

    probs = np.zeros((len(targets), len(model.config.labels)), dtype=np.float64)  # (rows, T)
    done = 0
    for batch in batched(seqs(), batch_size):
        probs[done:done + len(batch)] = classifier_probs(model, batch)
        done += len(batch)
    out = bed.copy()
    for column, values in zip(prob_columns(model.config.labels), probs.T):
        out[column] = values
    return out
