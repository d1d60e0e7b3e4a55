"""Sequence alphabets: IUPAC DNA and protein letters, reverse complement and validation.

``clean_dna`` and ``clean_protein`` uppercase a sequence (soft-masked lowercase counts as
uppercase), drop ``\\r`` and raise :class:`InputError` at the 1-based position of the first
letter outside the alphabet. Both work on whole chromosomes: the checks are bulk
``bytes.translate`` calls, never a Python loop over characters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqformer.errors import InputError

IUPAC_DNA: frozenset[str] = frozenset("ACGTNRYSWKMBDHV")
"""Uppercase IUPAC nucleotide codes: ACGT, N, and the ambiguity codes RYSWKMBDHV."""

PROTEIN_LETTERS: frozenset[str] = frozenset("ACDEFGHIKLMNPQRSTVWY" "XBZUO")
"""The 20 standard amino acids plus X (unknown), B (D/N), Z (E/Q), U (Sec) and O (Pyl)."""

DNA_CHANNELS = "ACGT"
"""The one-hot channel order of DNA (the k-mer tokenizer's base order)."""
_CHANNEL = np.full(256, len(DNA_CHANNELS), dtype=np.int64)  # byte -> 0..3 for A C G T (either case), 4 otherwise
for _i, _base in enumerate(DNA_CHANNELS):
    _CHANNEL[ord(_base)] = _CHANNEL[ord(_base.lower())] = _i
_ROWS = np.eye(len(DNA_CHANNELS) + 1, len(DNA_CHANNELS), dtype=np.float32)  # channel -> one-hot row (4: zeros)


def dna_channels(seq: str) -> np.ndarray:
    """(n,) int64 channel of each letter of ASCII ``seq``: 0..3 for A C G T (either case), 4 for N and anything else."""
    return _CHANNEL[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]


def one_hot_dna(seqs) -> np.ndarray:
    """(N, n, 4) float32 one-hot of equally long DNA strings over A C G T; N and other codes are zero rows."""
    if not seqs:
        return np.zeros((0, 0, len(DNA_CHANNELS)), dtype=np.float32)
    return _ROWS[dna_channels("".join(seqs)).reshape(len(seqs), len(seqs[0]))]


# A <-> T, C <-> G, R (AG) <-> Y (CT), K (GT) <-> M (AC), B (CGT) <-> V (ACG),
# D (AGT) <-> H (ACT); S, W and N are their own complements.
_COMPLEMENT = str.maketrans("ACGTRYKMBVDHSWNacgtrykmbvdhswn", "TGCAYRMKVBHDSWNtgcayrmkvbhdswn")


def reverse_complement(seq: str) -> str:
    """Reverse complement of an IUPAC DNA string; case is kept, other characters pass through."""
    return seq.translate(_COMPLEMENT)[::-1]


def _letters(alphabet: frozenset[str]) -> bytes:
    """Both cases of an uppercase alphabet as bytes, for ``bytes.translate(None, delete)``."""
    upper = "".join(sorted(alphabet))
    return (upper + upper.lower()).encode("ascii")


_DNA_BYTES = _letters(IUPAC_DNA)
_PROTEIN_BYTES = _letters(PROTEIN_LETTERS)


def _clean(
    seq: str,
    allowed: bytes,
    what: str,
    hint: str,
    path: str | Path | None,
    record: str | None,
    offset: int,
) -> str:
    """Uppercase ``seq`` without ``\\r``; raise at the first byte not in ``allowed``."""
    if "\r" in seq:
        seq = seq.replace("\r", "")
    encoded = seq.encode("ascii", errors="replace")  # one '?' (never allowed) per other character
    leftover = encoded.translate(None, allowed)
    if not leftover:
        return seq.upper()
    index = encoded.index(leftover[:1])
    raise InputError(
        f"invalid {what} character {seq[index]!r}{hint}", path=path, record=record, position=offset + index + 1
    )


def clean_dna(seq: str, *, path: str | Path | None = None, record: str | None = None, offset: int = 0) -> str:
    """Uppercase IUPAC DNA; raise :class:`InputError` at position ``offset + index + 1`` otherwise.

    Args:
        seq: the sequence; lowercase (soft-masked) letters are accepted, ``\\r`` is dropped.
        path, record: named in the error message.
        offset: 0-based position of ``seq[0]`` in its record, so that errors give record positions.
    """
    return _clean(seq, _DNA_BYTES, "DNA", " (allowed: ACGT, N and IUPAC codes RYSWKMBDHV)", path, record, offset)


def clean_protein(
    seq: str, *, path: str | Path | None = None, record: str | None = None, offset: int = 0
) -> str:
    """Uppercase protein letters without one trailing ``*`` stop; raise :class:`InputError` otherwise.

    Args:
        seq: the sequence; lowercase letters are accepted, ``\\r`` is dropped.
        path, record: named in the error message.
        offset: 0-based position of ``seq[0]`` in its record, so that errors give record positions.
    """
    seq = seq.rstrip("\r")
    if seq.endswith("*"):
        seq = seq[:-1]
    return _clean(
        seq, _PROTEIN_BYTES, "protein", " (allowed: the 20 amino acids and X B Z U O)", path, record, offset
    )
