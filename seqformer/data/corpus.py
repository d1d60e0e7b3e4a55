"""Opening a pretraining corpus from a :class:`DataConfig`: its tokenizer, window length and files.

Axes: L tokens per window, W bases or residues per window.

A corpus answers ``train_sequences(step, rank, world_size, batch_size)`` (the windows of one
training step, a function of the step number alone) and ``validation_sequences()`` (a fixed list),
whatever its alphabet: :class:`~seqformer.data.dna.GenomeWindows` for DNA,
:class:`~seqformer.data.protein.ProteinRecords` for protein (``ConcatProteinRecords``, token-id
windows, with ``data.concat``). Before opening, each file is checked to hold the alphabet asked
for, so a protein FASTA given as DNA (or back) fails with one line.
"""

from __future__ import annotations

from itertools import islice
from typing import Protocol

import numpy as np

from seqformer.data.config import DataConfig
from seqformer.data.dna import GenomeWindows
from seqformer.data.protein import ConcatProteinRecords, ProteinRecords
from seqformer.errors import InputError
from seqformer.io.fasta import read_fasta
from seqformer.io.genome import Genome
from seqformer.io.sequence import IUPAC_DNA
from seqformer.tokenizers import KmerTokenizer, ProteinTokenizer
from seqformer.tokenizers.base import Tokenizer

SNIFF_LETTERS = 10_000  # letters read from the start of a file to tell DNA from protein
_NUCLEOTIDES = frozenset("ACGTUN")


class Corpus(Protocol):
    """What the masked-LM task needs from a corpus.

    Windows are sequences (``str``, encoded by the batch builder) or, for a corpus that tokenises
    itself (:class:`~seqformer.data.protein.ConcatProteinRecords`), framed token ids (``np.ndarray``
    of at most L ids, padded by the batch builder); one corpus yields one kind.
    """

    window: int  # W: bases or residues per window (per record, for a concatenating corpus)

    def train_sequences(self, step: int, rank: int, world_size: int,
                        batch_size: int) -> list[str] | list[np.ndarray]: ...

    def validation_sequences(self) -> list[str] | list[np.ndarray]: ...

    def describe(self) -> dict: ...


def build_tokenizer(config: DataConfig) -> Tokenizer:
    """k-mers (``kmer``, ``stride``) for DNA, residues for protein."""
    if config.alphabet == "protein":
        return ProteinTokenizer()
    try:
        return KmerTokenizer(config.kmer, config.stride)
    except ValueError as err:
        raise InputError(f"data.kmer / data.stride: {err}") from None


def window_length(tokenizer: Tokenizer, max_length: int) -> int:
    """W: the most bases (residues) that encode to at most ``max_length`` tokens with [CLS] and [SEP]."""
    low, high = 1, max(max_length, 1) * 16
    if tokenizer.num_tokens(low) > max_length:
        raise InputError(f"max_length {max_length} leaves no room for a token besides [CLS] and [SEP]")
    while low < high:  # num_tokens grows with the length: find the last length that fits
        middle = (low + high + 1) // 2
        if tokenizer.num_tokens(middle) <= max_length:
            low = middle
        else:
            high = middle - 1
    return low


def check_letters(letters: str, alphabet: str, path: str) -> None:
    """InputError when ``letters`` (the start of a file) are plainly not of ``alphabet``."""
    letters = letters[:SNIFF_LETTERS].upper()
    if not letters:
        return
    outside = sorted(set(letters) - IUPAC_DNA)
    if alphabet == "dna" and outside:
        raise InputError(f"does not look like DNA (letters {''.join(outside[:6])} are not nucleotide codes); "
                         "for a protein FASTA pass --alphabet protein", path=path)
    share = sum(letters.count(letter) for letter in _NUCLEOTIDES) / len(letters)
    if alphabet == "protein" and not outside and share >= 0.9:
        raise InputError(f"looks like DNA, not protein ({share:.0%} of the first {len(letters):,} letters "
                         "are A, C, G, T or N); pass --alphabet dna", path=path)


def check_alphabet(path: str, alphabet: str) -> None:
    """InputError when the start of corpus file ``path`` does not look like ``alphabet``.

    DNA corpora are genomes: their first bases are read through the index (never a whole
    chromosome); protein corpora are read as FASTA, up to the first 100 records.
    """
    if alphabet == "dna":
        with Genome(path) as genome:
            chrom, length = next(iter(genome.contigs.items()))
            try:
                genome.fetch(chrom, 0, min(length, SNIFF_LETTERS))
            except InputError as err:
                raise InputError(f"does not look like DNA ({err.message}); for a protein FASTA pass "
                                 "--alphabet protein", path=path, record=err.record) from None
        return
    check_letters("".join(record.seq for record in islice(read_fasta(path), 100)), alphabet, path)


def open_corpus(config: DataConfig, tokenizer: Tokenizer, seed: int) -> Corpus:
    """The corpus of ``config``'s files, cut into windows that encode to ``config.max_length`` tokens."""
    if not config.fasta:
        raise InputError("no corpus: give --fasta FILE (or data.fasta in the config)")
    for path in config.fasta:
        check_alphabet(path, config.alphabet)
    window = window_length(tokenizer, config.max_length)
    if config.concat:
        return ConcatProteinRecords(list(config.fasta), window, tokenizer, config.max_length,
                                    val_fraction=config.val_fraction, val_windows=config.val_windows, seed=seed)
    if config.alphabet == "protein":
        return ProteinRecords(list(config.fasta), window, val_fraction=config.val_fraction,
                              val_windows=config.val_windows, seed=seed)
    return GenomeWindows(list(config.fasta), window, regions=config.regions, val_regions=config.val_regions,
                         val_fraction=config.val_fraction, val_windows=config.val_windows,
                         max_n_fraction=config.max_n_fraction, reverse_complement=config.reverse_complement,
                         seed=seed)
