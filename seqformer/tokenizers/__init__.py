"""Tokenizers: DNA k-mers and protein residues, in the canonical id layout or another project's.

Axes: B batch, L tokens. See :mod:`seqformer.tokenizers.base` for the shared contract.
"""

from seqformer.tokenizers.base import (
    SPECIAL_TOKENS,
    BatchEncoding,
    Tokenizer,
    TokenizerFileError,
    load_tokenizer,
)
from seqformer.tokenizers.kmer import KmerTokenizer
from seqformer.tokenizers.protein import ProteinTokenizer

__all__ = [
    "SPECIAL_TOKENS",
    "BatchEncoding",
    "KmerTokenizer",
    "ProteinTokenizer",
    "Tokenizer",
    "TokenizerFileError",
    "load_tokenizer",
]
