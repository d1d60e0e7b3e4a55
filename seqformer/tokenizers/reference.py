"""Plain-Python reference k-mer tokenizer (DNABERT's string-splitting approach).

The dense reference for tests of :class:`~seqformer.tokenizers.kmer.KmerTokenizer`'s vectorised
encoder and the baseline of ``seqformer bench tokenize``. It follows the same rules (ids,
[UNK] for ambiguous, short and trailing partial k-mers) but does not validate characters:
anything that is not a k-mer of ACGT becomes [UNK].
"""

from __future__ import annotations

from seqformer.tokenizers.base import SPECIAL_TOKENS, UNK_ID
from seqformer.tokenizers.kmer import KmerTokenizer


def kmer_vocab(k: int) -> dict[str, int]:
    """k-mer -> token id, as :class:`KmerTokenizer` numbers them."""
    tokens = KmerTokenizer(k).vocab
    return {token: i for i, token in enumerate(tokens) if i >= len(SPECIAL_TOKENS)}


def reference_kmer_ids(seq: str, k: int, stride: int = 1, vocab: dict[str, int] | None = None) -> list[int]:
    """Body token ids (no [CLS]/[SEP]) of ``seq``: split into k-mers, look each up in a dict."""
    vocab = kmer_vocab(k) if vocab is None else vocab
    seq = seq.upper()
    kmers = [seq[i : i + k] for i in range(0, len(seq) - k + 1, stride)]
    ids = [vocab.get(kmer, UNK_ID) for kmer in kmers]
    covered = (len(kmers) - 1) * stride + k if kmers else 0
    if covered < len(seq):  # shorter than k, or a trailing partial k-mer: one [UNK]
        ids.append(UNK_ID)
    return ids
