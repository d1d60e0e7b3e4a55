"""Streaming FASTA reading (via Biopython) and writing.

Files may be plain, gzip or BGZF (told from magic bytes, not the name), with LF or CRLF lines.
A :class:`FastaRecord` holds the header's first word as ``id``, the rest as ``description``, and
the sequence; with ``alphabet="dna"`` or ``"protein"`` the sequence is uppercased and checked.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

from Bio import SeqIO

from seqformer.errors import InputError
from seqformer.io._files import first_text, open_binary, open_text, require_file
from seqformer.io.atomic import atomic_open
from seqformer.io.sequence import clean_dna, clean_protein

_CLEANERS: dict[str | None, Callable[..., str] | None] = {None: None, "dna": clean_dna, "protein": clean_protein}


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA record: ``>id description`` and its sequence."""

    id: str  # the header's first word
    description: str  # the rest of the header line, "" when there is none
    seq: str


def require_fasta_start(path: Path) -> None:
    """Raise :class:`InputError` unless the first non-blank character of ``path`` is ``>``."""
    first = first_text(path)
    if not first:
        raise InputError("file is empty (only blank lines)", path=path)
    if first != ">":
        raise InputError(f"not a FASTA file: it starts with {first!r}, not '>'", path=path)


def read_fasta(path: str | os.PathLike, *, alphabet: str | None = None) -> Iterator[FastaRecord]:
    """Stream the records of a FASTA file.

    Args:
        path: plain, gzip or BGZF FASTA.
        alphabet: ``"dna"`` or ``"protein"`` to uppercase and check sequences (``*`` stops are
            dropped from proteins); ``None`` returns them as written.

    Returns:
        An iterator of :class:`FastaRecord`. The file is checked before this returns (missing,
        empty, not FASTA); records without sequence or with invalid letters raise
        :class:`InputError` when reached.
    """
    if alphabet not in _CLEANERS:
        raise ValueError(f"alphabet must be 'dna', 'protein' or None, got {alphabet!r}")
    path = require_file(path)
    require_fasta_start(path)
    return _records(path, _CLEANERS[alphabet])


def _records(path: Path, clean: Callable[..., str] | None) -> Iterator[FastaRecord]:
    """The records of a checked FASTA file."""
    with open_text(path) as handle:
        try:
            for number, record in enumerate(SeqIO.parse(handle, "fasta-pearson"), 1):
                if not record.id:
                    raise InputError(f"record {number} has an empty header line", path=path)
                seq = str(record.seq)
                if not seq:
                    raise InputError(f"record {number} has no sequence", path=path, record=record.id)
                seq = clean(seq, path=path, record=record.id) if clean else seq.replace("\r", "")
                words = record.description.split(None, 1)
                yield FastaRecord(record.id, words[1] if len(words) > 1 else "", seq)
        except UnicodeDecodeError as err:
            raise InputError(f"not a text file (byte {err.object[err.start]:#04x})", path=path) from None


def count_fasta_records(path: str | os.PathLike) -> int:
    """The number of ``>`` header lines, without parsing sequences."""
    path = require_file(path)
    with open_binary(path) as handle:
        return sum(1 for line in handle if line.startswith(b">"))


def format_fasta(record: FastaRecord, width: int = 60) -> str:
    """``>id description`` then the sequence in lines of ``width`` (one line when ``width`` is 0)."""
    header = f">{record.id} {record.description}" if record.description else f">{record.id}"
    seq = record.seq
    step = width if width > 0 else max(len(seq), 1)
    lines = [seq[i:i + step] for i in range(0, len(seq), step)]
    return "\n".join([header, *lines]) + "\n"


def write_fasta(records: Iterable[FastaRecord], path: str | os.PathLike | None = None, *, width: int = 60) -> int:
    """Write records as FASTA to ``path`` atomically (nothing is left if a record fails), or stdout.

    Returns:
        The number of records written.
    """
    if width < 0:
        raise InputError(f"line width must be 0 (no wrapping) or more, got {width}")
    if path is None:
        return _write_records(records, sys.stdout, width)
    with atomic_open(path) as handle:
        return _write_records(records, handle, width)


def _write_records(records: Iterable[FastaRecord], handle: IO[str], width: int) -> int:
    count = 0
    for count, record in enumerate(records, 1):
        handle.write(format_fasta(record, width))
    return count
