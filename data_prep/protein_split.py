"""A protein corpus split by record into training and held-apart FASTA files (``seqformer data protein-split``).

A record is held apart when the CRC-32 of its id falls in the lowest ``fraction`` of the range
(:func:`seqformer.data.protein.is_validation_id`, the rule pretraining uses for its own
validation records), so the split is the same on every machine, never cuts a record and does not
depend on file order. Sequences are written as read (uppercased, checked as protein), 60 letters a
line; both files are written to temporary names and renamed, so an error leaves neither behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seqformer.data.protein import is_validation_id
from seqformer.errors import InputError
from seqformer.io import atomic_open, read_fasta
from seqformer.io.fasta import format_fasta


@dataclass
class ProteinSplit:
    """What :func:`split_proteins` wrote."""

    train: Path
    held_out: Path
    train_records: int
    held_out_records: int


def split_proteins(fasta: str | Path, train_out: str | Path, held_out: str | Path, fraction: float = 0.02,
                   salt: str = "") -> ProteinSplit:
    """Write the records of ``fasta`` to ``train_out`` or ``held_out`` by the hash of ``salt + id``."""
    if not 0.0 < fraction < 1.0:
        raise InputError(f"--fraction must be between 0 and 1, got {fraction}")
    counts = [0, 0]
    with atomic_open(train_out) as train, atomic_open(held_out) as test:
        for record in read_fasta(fasta, alphabet="protein"):
            side = int(is_validation_id(salt + record.id, fraction))
            (test if side else train).write(format_fasta(record))
            counts[side] += 1
        if counts[0] == 0 or counts[1] == 0:
            raise InputError(f"the split leaves {counts[0]} training and {counts[1]} held-out records; "
                             "change --fraction", path=fasta)
    return ProteinSplit(Path(train_out), Path(held_out), counts[0], counts[1])
