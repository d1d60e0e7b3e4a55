"""Protein tokenizer: one token per residue.

Axes: n residues in, L tokens out (n + 2 with [CLS] and [SEP]). Canonical token ids: the five
specials (0..4), then the 25 letters of :data:`RESIDUES` in this fixed order (``vocab_size = 30``):

    5 A   6 C   7 D   8 E   9 F  10 G  11 H  12 I  13 K  14 L  15 M  16 N  17 P  18 Q  19 R
   20 S  21 T  22 V  23 W  24 Y  25 X  26 B  27 Z  28 U  29 O

that is the 20 standard amino acids alphabetically by one-letter code, then X (any), B (D/N),
Z (E/Q), U (selenocysteine) and O (pyrrolysine), which are real tokens, not [UNK].
Input is checked by :func:`seqformer.io.sequence.clean_protein`: lowercase is uppercased, one
trailing ``*`` (stop) is stripped, and any other character is an :class:`InputError` naming the
record and its 1-based position. [UNK] and [MASK] decode to X.
Another project's ids (ESM-2's alphabet) come from a ``vocab`` layout (:mod:`seqformer.tokenizers.layout`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from seqformer.io.sequence import clean_protein
from seqformer.tokenizers.base import SPECIAL_TOKENS, Tokenizer

STANDARD_AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
#: The residue letters in id order (ids 5..29).
RESIDUES = STANDARD_AMINO_ACIDS + "XBZUO"

_FIRST = len(SPECIAL_TOKENS)
_IDS = bytearray(256)  # bytes.translate table: residue letter -> canonical token id
for _i, _letter in enumerate(RESIDUES):
    _IDS[ord(_letter)] = _FIRST + _i
_IDS = bytes(_IDS)
# id -> letter; specials that reach decode ([UNK], [MASK]) become X
_LETTERS = np.frombuffer(("X" * _FIRST + RESIDUES).encode(), dtype=np.uint8)


class ProteinTokenizer(Tokenizer):
    """Amino-acid tokenizer: the 20 standard residues plus X, B, Z, U, O.

    Args:
        vocab, special_tokens, framing: the id layout (:meth:`Tokenizer._set_layout`).
    """

    type_name = "protein"
    unknown_letter = "X"

    def __init__(self, *, vocab: Sequence[str] | None = None, special_tokens: dict[str, str] | None = None,
                 framing: str = "cls-sep") -> None:
        self._set_layout(vocab, special_tokens, framing)

    def _config(self) -> dict[str, Any]:
        return {}

    def _tokens(self) -> list[str]:
        return list(RESIDUES)

    def _prepare(self, seq: str, *, record: str | None, path: str | Path | None) -> str:
        return clean_protein(seq, path=path, record=record)

    def _num_body_tokens(self, seq_len: int) -> int:
        return seq_len

    def _body_spans(self, seq_len: int) -> np.ndarray:
        starts = np.arange(seq_len, dtype=np.int64)
        return np.stack([starts, starts + 1], axis=1)  # (n, 2)

    def _encode_into(self, seq: str, out: np.ndarray, *, record: str | None,
                     path: str | Path | None) -> None:
        out[:] = np.frombuffer(seq.encode("ascii").translate(_IDS), dtype=np.uint8)

    def _decode_body(self, body: np.ndarray) -> str:
        return _LETTERS[body].tobytes().decode("ascii")
