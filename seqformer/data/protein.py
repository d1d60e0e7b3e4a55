"""Protein corpora: FASTA records, split by record, cropped to the window length.

Axes: W residues per window.

The records of every file are streamed once (:func:`seqformer.io.read_fasta`, checked as
protein) into memory: a 100k-record Swiss-Prot set is about 40 MB. A record goes to validation
when the CRC-32 of its id falls in the lowest ``val_fraction`` of the range, so the split is
the same on every run and machine, never splits a record, and does not depend on file order.
Training visits the records epoch by epoch, each epoch in the order of a permutation seeded by
``(seed, epoch)``; sample ``i`` of the run (``i = (step * world_size + rank) * batch_size + b``)
is record ``perm[i % n]`` of epoch ``i // n``, cropped to W residues at an offset drawn from a
generator keyed on ``(seed, step, rank)``. So a step's records depend only on the step number,
and ranks take disjoint records. Validation records are cropped to their first W residues.
"""

from __future__ import annotations

import zlib

import numpy as np

from seqformer.errors import InputError
from seqformer.io.fasta import read_fasta

_HASH_RANGE = 2**32


def is_validation_id(record_id: str, fraction: float) -> bool:
    """Whether a record of this id belongs to the validation split."""
    return zlib.crc32(record_id.encode("utf-8")) < fraction * _HASH_RANGE


class ProteinRecords:
    """Training and validation windows of at most ``window`` residues from protein FASTA files."""

    def __init__(self, paths: list[str], window: int, *, val_fraction: float = 0.05, val_windows: int = 64,
                 seed: int = 0) -> None:
        self.paths = list(paths)
        self.window = window
        self.seed = seed
        train_ids, val_ids, self.train, validation = [], [], [], []
        for path in self.paths:
            for record in read_fasta(path, alphabet="protein"):
                if is_validation_id(record.id, val_fraction):
                    val_ids.append(record.id)
                    validation.append(record.seq)
                else:
                    train_ids.append(record.id)
                    self.train.append(record.seq)
        if not validation and len(self.train) > 1:  # tiny corpora: hold out the lowest-hashing record
            index = min(range(len(train_ids)), key=lambda i: zlib.crc32(train_ids[i].encode("utf-8")))
            val_ids.append(train_ids.pop(index))
            validation.append(self.train.pop(index))
        if not self.train:
            raise InputError("no usable sequence: a protein corpus needs at least two records",
                             path=self.paths[0])
        self._validation = [seq[:window] for seq in validation[:val_windows]]
        self._permutations: dict[int, np.ndarray] = {}

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._permutations:
            if len(self._permutations) > 2:
                self._permutations.clear()
            rng = np.random.default_rng([self.seed, epoch])
            self._permutations[epoch] = rng.permutation(len(self.train))
        return self._permutations[epoch]

    def train_sequences(self, step: int, rank: int, world_size: int, batch_size: int) -> list[str]:
        """The ``batch_size`` training windows of ``step`` on ``rank``."""
        rng = np.random.default_rng([self.seed, step, rank])
        n = len(self.train)
        first = (step * world_size + rank) * batch_size
        seqs = []
        for i in range(first, first + batch_size):
            seq = self.train[int(self._permutation(i // n)[i % n])]
            if len(seq) > self.window:
                start = int(rng.integers(len(seq) - self.window + 1))
                seq = seq[start:start + self.window]
            seqs.append(seq)
        return seqs

    def validation_sequences(self) -> list[str]:
        """The validation records (cut to the window), in file order."""
        return list(self._validation)

    def describe(self) -> dict:
        """Sizes for the log: training and validation records, residues."""
        return {"train_records": len(self.train), "train_residues": sum(map(len, self.train)),
                "validation_records": len(self._validation), "window_residues": self.window}
