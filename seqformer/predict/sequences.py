"""Scoring the records of a FASTA file with a sequence classifier: one row of probabilities per record.

Axes: B records per batch, T targets.

Each record is fitted to the model's ``window`` with :func:`~seqformer.predict.windows.fit_to_window`:
a longer record is centre-cropped (an odd excess base is cut from the 3' end), a shorter one padded
with N on both sides (an odd base of padding goes to the 3' end). Nothing is silently cut from one
end; the ``fit`` column says what was done (``exact``, ``cropped`` or ``padded``). Records stream
through in batches, so memory does not grow with the file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from seqformer.io import atomic_open, read_fasta
from seqformer.predict.scorer import classifier_probs
from seqformer.predict.windows import batched, fit_to_window


def fit_kind(length: int, window: int) -> str:
    """``exact``, ``cropped`` or ``padded``: what :func:`fit_to_window` does to a record of ``length``."""
    return "exact" if length == window else ("cropped" if length > window else "padded")


def score_fasta(model, fasta: str | Path, out: str | Path, *, batch_size: int = 64,
                on_batch=None) -> int:
    """Write ``out`` (TSV): ``id``, ``length``, ``fit``, then one probability column per target (named after it).

    Returns the number of records scored; ``on_batch(records_done)`` is called after each batch.
    """
    window = model.config.window
    labels = list(model.config.labels)
    records: Iterator = read_fasta(fasta, alphabet="dna")
    done = 0
    with atomic_open(out, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", "length", "fit", *labels])
        for batch in batched(records, batch_size):
            probs = classifier_probs(model, [fit_to_window(r.seq, window) for r in batch])  # (B, T)
            for record, row in zip(batch, probs):
                writer.writerow([record.id, len(record.seq), fit_kind(len(record.seq), window),
                                 *(f"{p:.6g}" for p in row)])
            done += len(batch)
            if on_batch is not None:
                on_batch(done)
    return done
