"""Token statistics of a FASTA file or genome regions: what ``seqformer tokenize`` reports.

Records are read through :mod:`seqformer.io`; genome regions are fetched and encoded in chunks
(:meth:`Tokenizer.chunk_bounds`), so memory stays flat however long the region. Token counts
leave out [CLS] and [SEP]: they count the body tokens of every record or region.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqformer.errors import InputError
from seqformer.io.atomic import atomic_open
from seqformer.io.fasta import read_fasta
from seqformer.io.genome import Genome
from seqformer.io.regions import Region
from seqformer.tokenizers.base import Tokenizer
from seqformer.tokenizers.kmer import KmerTokenizer

TOP = 10  # most frequent tokens reported
CHUNK_SIZE = 1_000_000  # bases per genome chunk


@dataclass
class TokenizeSummary:
    """Counts over every token of the input."""

    path: str  # the FASTA file or genome
    region: str | None  # the genome region as given (samtools style); None for all of the file
    tokenizer: dict[str, Any]  # type and parameters, e.g. {"type": "kmer", "k": 6, "stride": 1}
    vocab_size: int  # token ids, specials included
    records: int  # FASTA records, or genome regions (contigs)
    bases: int  # residues for proteins
    tokens: int  # body tokens, without [CLS]/[SEP]
    unk_tokens: int  # [UNK] tokens among them
    unk_share: float  # unk_tokens / tokens (0 when there are no tokens)
    top_tokens: list[dict[str, Any]]  # up to 10 {"token", "count"}, most frequent first, [UNK] left out
    seconds: float  # wall time, reading included

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return dataclasses.asdict(self)

    def write_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` to ``path`` atomically."""
        with atomic_open(path, "w", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, indent=2)
            handle.write("\n")


class _Tally:
    """Running token counts."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.counts = np.zeros(tokenizer.vocab_size, dtype=np.int64)
        self.records = 0
        self.bases = 0
        self.started = time.perf_counter()

    def add(self, ids: np.ndarray) -> None:
        self.counts += np.bincount(ids, minlength=len(self.counts))

    def summary(self, path: str | os.PathLike, region: str | None = None) -> TokenizeSummary:
        tok = self.tokenizer
        tokens = int(self.counts.sum())
        unk = int(self.counts[tok.unk_id])
        body = tok.body_ids
        order = body[np.argsort(-self.counts[body], kind="stable")][:TOP]  # ties: lower id first
        top = [{"token": tok.id_to_token(i), "count": int(self.counts[i])} for i in order if self.counts[i]]
        config = {key: value for key, value in tok.to_dict().items()
                  if key not in ("version", "special_tokens", "vocab")}
        return TokenizeSummary(
            path=str(path), region=region, tokenizer=config, vocab_size=tok.vocab_size, records=self.records,
            bases=self.bases, tokens=tokens, unk_tokens=unk, unk_share=unk / tokens if tokens else 0.0,
            top_tokens=top, seconds=time.perf_counter() - self.started)


def _alphabet(tokenizer: Tokenizer) -> str:
    return "dna" if isinstance(tokenizer, KmerTokenizer) else "protein"


def summarize_fasta(path: str | os.PathLike, tokenizer: Tokenizer) -> TokenizeSummary:
    """Tokenize every record of a FASTA file (plain or gzip) and count tokens."""
    tally = _Tally(tokenizer)
    for record in read_fasta(path, alphabet=_alphabet(tokenizer)):
        ids = tokenizer.encode(record.seq, record=record.id, path=path, add_special_tokens=False)
        tally.add(ids)
        tally.bases += len(record.seq)
        tally.records += 1
    return tally.summary(path)


def summarize_genome(path: str | os.PathLike, tokenizer: Tokenizer, region: str | None = None, *,
                     chunk_size: int = CHUNK_SIZE) -> TokenizeSummary:
    """Tokenize a region of an indexed genome (samtools style, 1-based; None: every contig)."""
    if not isinstance(tokenizer, KmerTokenizer):
        raise InputError("a genome holds DNA: use a k-mer tokenizer (--alphabet dna)")
    tally = _Tally(tokenizer)
    with Genome(path) as genome:
        regions = ([genome.region(region)] if region is not None
                   else [Region(name, 0, length) for name, length in genome.contigs.items()])
        for reg in regions:
            for start, end in tokenizer.chunk_bounds(len(reg), chunk_size):
                seq = genome.fetch(reg.chrom, reg.start + start, reg.start + end)
                tally.add(tokenizer.encode(seq, record=reg.chrom, path=path, add_special_tokens=False))
            tally.bases += len(reg)
            tally.records += 1
    return tally.summary(path, region)
