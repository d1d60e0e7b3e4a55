"""k-mer tokenizer for DNA: overlapping (DNABERT, stride 1) or non-overlapping (stride k).

Axes: n bases in, L tokens out. Canonical token ids: the five specials (0..4), then every k-mer in
lexicographic order, id = 5 + base-4 index with A=0, C=1, G=2, T=3 (``vocab_size = 5 + 4**k``).
For k = 3: AAA=5, AAC=6, ..., ACG=11, ..., TTT=68. Another project's ids (DNABERT's, the
Nucleotide Transformer's) come from a ``vocab`` layout (:mod:`seqformer.tokenizers.layout`).

Rules (``leftover="unk"``, the default):
- lowercase is uppercased; a k-mer holding N or another IUPAC ambiguity code
  (R Y S W K M B D H V) is [UNK]; any other character (a carriage return too) is an
  :class:`InputError` naming the record and its 1-based position, worded as
  :func:`seqformer.io.sequence.clean_dna` words it.
- stride 1: one token per k-mer start, ``n - k + 1`` tokens. stride k: ``ceil(n / k)`` tokens;
  a trailing partial k-mer (``n % k`` leftover bases) is one [UNK] covering those bases.
  A non-empty sequence shorter than k is one [UNK] covering it, whatever the stride. So every
  base is covered by at least one token, and ``token_spans`` says exactly which.
- decode: base ``j`` is read from a k-mer token covering it (for stride 1, the first k-mer and
  then the last base of each following one, as DNABERT), and is ``N`` only when every token
  covering it is [UNK] or [MASK]. An [UNK] standing for a trailing partial k-mer decodes to k
  N's (the ids alone do not say how many bases it covered; use ``token_spans``).

Rules of ``leftover="bases"`` (the Nucleotide Transformer v1; stride k): within each maximal run
of A/C/G/T, k-mers are taken from the run's start; the fewer than k bases left at the run's end
are single-base tokens A, C, G, T; every ambiguity code is one token N, and the k-mer frame
restarts after it. The canonical vocabulary is the specials, the 4**k k-mers, then A C G T N.
Token boundaries depend on the letters, so ``num_tokens`` and ``token_spans`` given only a length
assume A/C/G/T throughout, and ``chunk_bounds`` needs the sequence itself: it cuts between tokens,
at most ``chunk_size // k`` tokens per chunk. [UNK] and [MASK] decode to k N's. This path is
plain numpy over the whole sequence (about 50 bytes of temporaries per base), not the blocked one.

Encoding (``leftover="unk"``) is vectorised and runs block by block (64k tokens) so that temporaries
stay in cache: the block's text is mapped to codes (0..3 bases, 4 ambiguous, 8 invalid) by one
``bytes.translate``; its maximum says whether it holds an invalid letter (then
:func:`~seqformer.io.sequence.clean_dna` words the error) or an ambiguous one; k-mer indices
are packed in uint16 by shift-or passes that double the window width (about log2 k passes);
the ids are written straight into the int32 output. There is no Python loop over k-mers.
"""

from __future__ import annotations

import itertools
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from seqformer.errors import InputError
from seqformer.io.sequence import IUPAC_DNA, clean_dna
from seqformer.tokenizers.base import Tokenizer
from seqformer.tokenizers.layout import FIRST_BODY_ID, IDS_DTYPE, MASK_ID, UNK_ID

BASES = "ACGT"
#: IUPAC ambiguity codes (N R Y S W K M B D H V): a k-mer holding one is [UNK].
AMBIGUITY_CODES = "".join(sorted(IUPAC_DNA - set(BASES)))
#: What becomes of bases in no complete k-mer: one [UNK], or single-base tokens (stride k only).
LEFTOVERS = ("unk", "bases")
#: The single-base tokens of ``leftover="bases"``, in canonical id order (N: any ambiguity code).
SINGLE_TOKENS = BASES + "N"
MAX_K = 8  # 4**8 k-mer indices fit in uint16
_FIRST = FIRST_BODY_ID  # canonical id of the first k-mer
_BLOCK = 1 << 16  # tokens per block of the vectorised encoder: its temporaries stay in cache
_AMBIGUOUS, _INVALID = 4, 8  # codes above the bases' 0..3


def _code_table() -> bytes:
    """``bytes.translate`` table: A C G T (either case) -> 0..3, ambiguity codes -> 4, else 8."""
    codes = {base: i for i, base in enumerate(BASES)} | dict.fromkeys(AMBIGUITY_CODES, _AMBIGUOUS)
    table = bytearray([_INVALID] * 256)
    for letter, code in codes.items():
        table[ord(letter)] = table[ord(letter.lower())] = code
    return bytes(table)


_CODES = _code_table()
_LETTERS = np.frombuffer(BASES.encode(), dtype=np.uint8)


@lru_cache(maxsize=None)
def _doubling_plan(k: int) -> tuple[tuple[int, int], ...]:
    """Steps ``(w, h)``: windows of width w from widths h and w - h, h the largest power of 2 < w.

    k = 6 is (2, 1), (4, 2), (6, 4): about log2(k) passes over a block instead of k.
    """
    steps: list[tuple[int, int]] = []

    def build(w: int) -> None:
        if w > 1 and all(step[0] != w for step in steps):
            half = 1 << (w - 1).bit_length() - 1
            build(half)
            build(w - half)
            steps.append((w, half))

    build(k)
    return tuple(steps)


class _Windows:
    """Packs each window of k values into one, block after block, reusing its buffers.

    For base codes (uint8 0..3) a window becomes the uint16 k-mer index
    ``x[i] << 2*(k-1) | ... | x[i+k-1]``; for bool flags, their OR (any flag in the window).
    Windows start every ``stride`` (1 or k). Everything runs in uint16 (numpy's uint8 shifts
    are slower) or bool, in preallocated buffers the size of one block, so it stays in cache.
    """

    def __init__(self, k: int, stride: int, max_len: int, dtype: type) -> None:
        self.k, self.stride = k, stride
        self.bits = 0 if dtype is np.bool_ else 2
        self.plan = _doubling_plan(k) if stride == 1 else ()
        widths = [1, *(w for w, _ in self.plan)] if stride == 1 else [1, 0]  # 0: the stride-k result
        self.buffers = {w: np.empty(max_len, dtype=dtype) for w in widths}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(windows,) packed values of ``x`` (len(x) - k + 1 of them, or len(x) / k for stride k)."""
        first = self.buffers[1][: len(x)]
        np.copyto(first, x)
        if self.stride != 1:  # non-overlapping: fold the k columns of a (windows, k) view
            columns = first.reshape(-1, self.k)
            packed = self.buffers[0][: len(columns)]
            np.copyto(packed, columns[:, 0])
            for o in range(1, self.k):
                if self.bits:
                    packed <<= self.bits
                packed |= columns[:, o]
            return packed
        packed = {1: first}
        for w, half in self.plan:
            left, right, n = packed[half], packed[w - half], len(x) - w + 1
            dst = self.buffers[w][:n]
            if self.bits:
                np.left_shift(left[:n], self.bits * (w - half), out=dst)
            else:
                np.copyto(dst, left[:n])
            np.bitwise_or(dst, right[half : half + n], out=dst)
            packed[w] = dst
        return packed[self.k]


@lru_cache(maxsize=None)
def _kmers(k: int) -> tuple[str, ...]:
    """All k-mers in id order."""
    return tuple("".join(p) for p in itertools.product(BASES, repeat=k))


class KmerTokenizer(Tokenizer):
    """DNA k-mer tokenizer; ``stride`` is 1 (overlapping) or ``k`` (non-overlapping).

    Args:
        k: k-mer length, 1 to 8.
        stride: 1 or k.
        leftover: ``"unk"`` (a trailing partial k-mer is one [UNK]) or ``"bases"`` (module docstring).
        vocab, special_tokens, framing: the id layout (:meth:`Tokenizer._set_layout`).
    """

    type_name = "kmer"
    unknown_letter = "N"
    _added_fields: ClassVar[dict[str, Any]] = {"framing": "cls-sep", "leftover": "unk"}

    def __init__(self, k: int = 6, stride: int = 1, *, leftover: str = "unk", vocab: Sequence[str] | None = None,
                 special_tokens: dict[str, str] | None = None, framing: str = "cls-sep") -> None:
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise ValueError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
        if isinstance(stride, bool) or not isinstance(stride, int) or stride not in (1, k):
            raise ValueError(f"stride must be 1 (overlapping) or k={k} (non-overlapping), "
                             f"got {stride!r}")
        if leftover not in LEFTOVERS:
            raise ValueError(f"leftover must be one of {LEFTOVERS}, got {leftover!r}")
        if leftover == "bases" and (stride != k or k == 1):
            raise ValueError(f"leftover='bases' needs non-overlapping k-mers (stride=k) and k >= 2 (its single "
                             f"bases would be 1-mers), got k={k}, stride={stride}")
        self.k = k
        self.stride = stride
        self.leftover = leftover
        self._chunk_overlap = k - stride
        self._chunk_step = stride
        self._set_layout(vocab, special_tokens, framing)

    def _config(self) -> dict[str, Any]:
        return {"k": self.k, "stride": self.stride, "leftover": self.leftover}

    def _tokens(self) -> list[str]:
        singles = list(SINGLE_TOKENS) if self.leftover == "bases" else []
        return list(_kmers(self.k)) + singles

    def _prepare(self, seq: str, *, record: str | None, path: str | Path | None) -> str:
        return seq  # letters are checked block by block while encoding

    def _num_full(self, seq_len: int) -> int:
        """Number of complete k-mer windows."""
        return (seq_len - self.k) // self.stride + 1 if seq_len >= self.k else 0

    def _num_body_tokens(self, seq_len: int) -> int:
        if self.leftover == "bases":  # a run of A/C/G/T: k-mers, then single bases
            return seq_len // self.k + seq_len % self.k
        if seq_len == 0:
            return 0
        if seq_len < self.k:
            return 1
        return -(-seq_len // self.k) if self.stride == self.k else seq_len - self.k + 1

    def _body_spans(self, seq_len: int) -> np.ndarray:
        if self.leftover == "bases":
            return self._spans_body("A" * seq_len)
        starts = np.arange(self._num_body_tokens(seq_len), dtype=np.int64) * self.stride
        return np.stack([starts, np.minimum(starts + self.k, seq_len)], axis=1)  # (n, 2)

    # --- leftover="bases" -----------------------------------------------------------------
    def _base_tokens(self, seq: str, record: str | None = None,
                     path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``leftover="bases"`` tokens of ``seq``: (n, 2) int64 spans and (n,) int64 canonical ids."""
        k = self.k
        codes = np.frombuffer(_codes(seq, seq, record, path), dtype=np.uint8)  # (bases,)
        if codes.size and codes.max() >= _INVALID:
            _raise_invalid(seq, record=record, path=path)
        n = len(codes)
        at = np.arange(n, dtype=np.int64)
        base = codes < _AMBIGUOUS  # (bases,) inside a run of A/C/G/T
        first = base & ~np.concatenate([[False], base[:-1]])
        last = base & ~np.concatenate([base[1:], [False]])
        run_start = np.maximum.accumulate(np.where(first, at, 0))  # at bases: where their run starts
        run_end = np.minimum.accumulate(np.where(last, at + 1, n)[::-1])[::-1]  # ... and ends
        singles_from = run_end - (run_end - run_start) % k  # the run's leftover bases start here
        kmer = base & ((at - run_start) % k == 0) & (at < singles_from)
        starts = np.flatnonzero(kmer | ~base | (at >= singles_from))  # (L,) every token's first base
        is_kmer = kmer[starts]
        spans = np.stack([starts, starts + np.where(is_kmer, k, 1)], axis=1)  # (L, 2)
        ids = np.empty(len(starts), dtype=np.int64)
        windows = codes[starts[is_kmer, None] + np.arange(k)].astype(np.int64)  # (kmers, k)
        ids[is_kmer] = _FIRST + windows @ (4 ** np.arange(k - 1, -1, -1, dtype=np.int64))
        ids[~is_kmer] = _FIRST + 4**k + np.minimum(codes[starts[~is_kmer]], _AMBIGUOUS).astype(np.int64)  # A C G T N
        return spans, ids

    def _encode_framed(self, seq: str, head: int, tail: int, *, record: str | None,
                       path: str | Path | None) -> np.ndarray:
        if self.leftover != "bases":
            return super()._encode_framed(seq, head, tail, record=record, path=path)
        _, ids = self._base_tokens(seq, record, path)
        out = np.empty(head + len(ids) + tail, dtype=IDS_DTYPE)
        out[head : head + len(ids)] = ids
        return out

    def _count_body(self, seq: str) -> int:
        return len(self._base_tokens(seq)[1]) if self.leftover == "bases" else super()._count_body(seq)

    def _spans_body(self, seq: str) -> np.ndarray:
        return self._base_tokens(seq)[0] if self.leftover == "bases" else super()._spans_body(seq)

    def _chunks(self, seq_len: int, chunk_size: int) -> list[tuple[int, int]]:
        if self.leftover == "bases" and seq_len > 0:
            raise ValueError("a leftover='bases' tokenizer's token boundaries depend on the letters: "
                             "pass the sequence to chunk_bounds, not its length")
        return super()._chunks(seq_len, chunk_size)

    def _chunks_of(self, seq: str, chunk_size: int) -> list[tuple[int, int]]:
        if self.leftover != "bases":
            return super()._chunks_of(seq, chunk_size)
        per_chunk = max(chunk_size // self.k, 1)  # tokens
        cuts = self._base_tokens(seq)[0][::per_chunk, 0].tolist()
        return list(zip(cuts, cuts[1:] + [len(seq)]))

    @cached_property
    def _spellings(self) -> list[str]:
        """Canonical id -> the bases it decodes to (k N's for the specials)."""
        return ["N" * self.k] * _FIRST + self._tokens()

    def _encode_into(self, seq: str, out: np.ndarray, *, record: str | None,
                     path: str | Path | None) -> None:
        k, s = self.k, self.stride
        full = self._num_full(len(seq))
        out[full:] = UNK_ID  # a sequence shorter than k, or a trailing partial k-mer
        tail = seq[full * s + k - s if full else 0 :]  # bases in no complete k-mer
        if max(_codes(tail, seq, record, path), default=0) >= _INVALID:
            _raise_invalid(seq, record=record, path=path)
        bases = (min(_BLOCK, full) - 1) * s + k  # most bases in one block
        kmers, flags = _Windows(k, s, bases, np.uint16), None
        for t0 in range(0, full, _BLOCK):
            m = min(_BLOCK, full - t0)
            # (bases,) codes of windows t0 .. t0+m-1: slicing the str first keeps copies in cache
            codes = np.frombuffer(_codes(seq[t0 * s : (t0 + m - 1) * s + k], seq, record, path), np.uint8)
            top = codes.max()
            if top >= _INVALID:
                _raise_invalid(seq, record=record, path=path)
            if top == _AMBIGUOUS:
                ambiguous, codes = codes == _AMBIGUOUS, codes & 3
            index = kmers(codes)  # (m,) uint16 k-mer indices
            dst = out[t0 : t0 + m]
            if k < MAX_K:  # 4**k + 5 ids fit in uint16: add there, then one widening copy
                index += _FIRST
                np.copyto(dst, index)
            else:
                np.copyto(dst, index)
                dst += _FIRST
            if top == _AMBIGUOUS:
                if flags is None:
                    flags = _Windows(k, s, bases, np.bool_)
                np.putmask(dst, flags(ambiguous), UNK_ID)

    def _decode_body(self, body: np.ndarray) -> str:
        k, s, n = self.k, self.stride, len(body)
        if n == 0:
            return ""
        if self.leftover == "bases":
            spell = self._spellings
            return "".join([spell[i] for i in body.tolist()])
        known = body > MASK_ID
        index = np.where(known, body - _FIRST, 0)
        out = np.full((n - 1) * s + k, ord(self.unknown_letter), dtype=np.uint8)
        # Later offsets overwrite earlier ones: for stride 1 base j comes from the last k-mer
        # ending at it that is known (the first k-mer, then the last base of each following).
        for o in range(k):
            letters = _LETTERS[(index >> (2 * (k - 1 - o))) & 3]
            view = out[o : o + (n - 1) * s + 1 : s]
            view[known] = letters[known]
        return out.tobytes().decode("ascii")


def _codes(part: str, seq: str, record: str | None, path: str | Path | None) -> bytes:
    """Base codes of ``part`` of ``seq`` (see ``_code_table``); non-ASCII raises for ``seq``."""
    try:
        return part.encode("ascii").translate(_CODES)
    except UnicodeEncodeError:
        _raise_invalid(seq, record=record, path=path)


def _raise_invalid(seq: str, *, record: str | None, path: str | Path | None) -> None:
    """Raise seqformer.io's InputError for the first letter of ``seq`` that is not IUPAC DNA."""
    head = seq[: seq.find("\r")] if "\r" in seq else seq  # clean_dna would drop a \r silently
    clean_dna(head, path=path, record=record)  # raises at the first bad letter before any \r
    raise InputError("carriage return (\\r) inside a sequence; read files with seqformer.io, "
                     "which drops them", path=path, record=record, position=len(head) + 1)
