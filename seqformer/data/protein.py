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

Concatenated windows (:class:`ConcatProteinRecords`, ``data.concat``; the Performer paper's
TrEMBL-concat setting) are token ids, not strings: the records of the epochs' permutations, one
after another (epoch ``e + 1``'s permutation follows epoch ``e``'s), each cropped to W residues
as above and encoded with its framing (``[CLS] body [SEP]``), are joined back to back and cut
into windows of exactly L tokens. The record that crosses a window's end is cut there, and the
next window starts with the *next* record rather than the cut remainder, so every window starts
at a record's start (its [CLS]) and no record is split across two windows; what lies beyond the
cut is not seen in that epoch. Window ``i`` of the run (``i`` as for sample ``i`` above) is the
``i``-th window of that stream: its boundaries are found greedily from record token counts
alone (cached, 8 bytes a window), so a step's windows still depend only on (step, rank, seed).
Validation records, in file order and cropped to their first W residues, are joined the same
way; the first ``val_windows`` windows are kept, and only the last may be shorter than L.
"""

from __future__ import annotations

import zlib
from array import array
from typing import Iterator

import numpy as np

from seqformer.errors import InputError
from seqformer.io.fasta import read_fasta
from seqformer.tokenizers.base import Tokenizer

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
        self._validation_records = validation  # every validation record, uncropped, in file order
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


class ConcatProteinRecords(ProteinRecords):
    """Windows of exactly ``max_length`` token ids: whole framed records back to back (module docstring).

    Args:
        paths: protein FASTA files.
        window: W, the most residues of one record (longer ones are cropped at a seeded offset).
        tokenizer: encodes each record with its framing.
        max_length: L, tokens per window.
        val_fraction, val_windows, seed: as for :class:`ProteinRecords`.
    """

    def __init__(self, paths: list[str], window: int, tokenizer: Tokenizer, max_length: int, *,
                 val_fraction: float = 0.05, val_windows: int = 64, seed: int = 0) -> None:
        super().__init__(paths, window, val_fraction=val_fraction, val_windows=val_windows, seed=seed)
        self.tokenizer = tokenizer
        self.max_length = max_length
        # tokens of each training record as it enters a window: cropped to W residues, then framed
        self._tokens = np.array([tokenizer.num_tokens(min(len(seq), window)) for seq in self.train], dtype=np.int64)
        self._total = int(self._tokens.sum())  # tokens of one epoch's stream
        self._starts = array("q", [0])  # stream position (epoch * n + k) where window i starts
        self._cumsums: dict[int, np.ndarray] = {}
        encoded = [tokenizer.encode(seq[:window]) for seq in self._validation_records]
        self._validation = list(self._pack(encoded))[:val_windows]

    def _pack(self, encoded: list[np.ndarray]) -> Iterator[np.ndarray]:
        """Framed records → windows of ``max_length`` ids; the record crossing an end is cut, the next starts anew."""
        parts, size = [], 0
        for ids in encoded:
            parts.append(ids)
            size += len(ids)
            if size >= self.max_length:
                yield np.concatenate(parts)[: self.max_length]
                parts, size = [], 0
        if parts:
            yield np.concatenate(parts)

    def _cumsum(self, epoch: int) -> np.ndarray:
        """(n + 1,) tokens before each record of ``epoch``'s permutation."""
        if epoch not in self._cumsums:
            if len(self._cumsums) > 2:
                self._cumsums.clear()
            self._cumsums[epoch] = np.concatenate([[0], np.cumsum(self._tokens[self._permutation(epoch)])])
        return self._cumsums[epoch]

    def _window_bounds(self, i: int) -> tuple[int, int]:
        """Stream positions [start, end) of the records of window ``i``."""
        n = len(self.train)
        while len(self._starts) <= i + 1:  # the first record whose end reaches max_length tokens ends a window
            start = self._starts[-1]
            epoch = start // n
            target = epoch * self._total + int(self._cumsum(epoch)[start % n]) + self.max_length
            while target > (epoch + 1) * self._total:
                epoch += 1
            k = int(np.searchsorted(self._cumsum(epoch), target - epoch * self._total, side="left"))
            self._starts.append(epoch * n + k)
        return self._starts[i], self._starts[i + 1]

    def train_sequences(self, step: int, rank: int, world_size: int, batch_size: int) -> list[np.ndarray]:
        """The ``batch_size`` windows of ``step`` on ``rank``: (L,) int32 token ids each."""
        rng = np.random.default_rng([self.seed, step, rank])
        n = len(self.train)
        first = (step * world_size + rank) * batch_size
        windows = []
        for i in range(first, first + batch_size):
            start, end = self._window_bounds(i)
            parts = []
            for position in range(start, end):
                seq = self.train[int(self._permutation(position // n)[position % n])]
                if len(seq) > self.window:
                    offset = int(rng.integers(len(seq) - self.window + 1))
                    seq = seq[offset:offset + self.window]
                parts.append(self.tokenizer.encode(seq))
            windows.append(np.concatenate(parts)[: self.max_length])
        return windows

    def validation_sequences(self) -> list[np.ndarray]:
        """The first ``val_windows`` validation windows, token ids (the last may be short)."""
        return list(self._validation)

    def describe(self) -> dict:
        """Sizes for the log: those of :class:`ProteinRecords`, with windows instead of records."""
        sizes = super().describe()
        sizes.pop("validation_records")
        return {**sizes, "validation_windows": len(self._validation), "window_tokens": self.max_length}
