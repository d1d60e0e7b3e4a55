"""Token statistics of FASTA files and genome regions (the library behind ``seqformer tokenize``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from seqformer.errors import InputError
from seqformer.tokenizers import KmerTokenizer, ProteinTokenizer
from seqformer.tokenizers.summary import summarize_fasta, summarize_genome

DATA = Path(__file__).parent / "data" / "tokenizers"
# dna.fa: seq1 ACGTACGTNN, seq2 acgtac, seq3 AC. For k=3 stride 1:
# seq1 -> ACG CGT GTA TAC ACG CGT [UNK] [UNK], seq2 -> ACG CGT GTA TAC, seq3 -> [UNK]
TOP_DNA_K3 = [{"token": "ACG", "count": 3}, {"token": "CGT", "count": 3},
              {"token": "GTA", "count": 2}, {"token": "TAC", "count": 2}]


@pytest.fixture
def genome(tmp_path) -> Path:
    """A copy of the two-contig genome fixture (its index is written beside it)."""
    return Path(shutil.copy(DATA / "genome.fa", tmp_path / "genome.fa"))


def contig_text(name: str) -> str:
    """The fixture's contig sequence, uppercased, read without seqformer.io."""
    text = (DATA / "genome.fa").read_text().split(">")
    record = next(block for block in text if block.startswith(name + "\n"))
    return "".join(record.splitlines()[1:]).upper()


def test_summarize_fasta_exact():
    summary = summarize_fasta(DATA / "dna.fa", KmerTokenizer(3))
    assert (summary.records, summary.bases, summary.tokens, summary.unk_tokens) == (3, 18, 13, 3)
    assert summary.unk_share == pytest.approx(3 / 13)
    assert summary.top_tokens == TOP_DNA_K3
    assert summary.vocab_size == 69
    assert summary.tokenizer == {"type": "kmer", "k": 3, "stride": 1}
    assert set(summary.to_dict()) == {"path", "region", "tokenizer", "vocab_size", "records", "bases", "tokens",
                                      "unk_tokens", "unk_share", "top_tokens", "seconds"}


def test_summarize_protein():
    summary = summarize_fasta(DATA / "protein.fa", ProteinTokenizer())  # MKVLA* and mkxbzuo
    assert (summary.records, summary.bases, summary.tokens, summary.unk_tokens) == (2, 12, 12, 0)
    assert [item["token"] for item in summary.top_tokens] == list("KMALVXBZUO")
    assert [item["count"] for item in summary.top_tokens] == [2, 2] + [1] * 8


@pytest.mark.parametrize("tok", [KmerTokenizer(3), KmerTokenizer(3, 3), KmerTokenizer(8)])
@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_genome_chunks_count_like_one_piece(genome, tok, chunk_size):
    summary = summarize_genome(genome, tok, "chrA:11-100", chunk_size=chunk_size)
    ids = tok.encode(contig_text("chrA")[10:100], add_special_tokens=False)
    counts = np.bincount(ids, minlength=tok.vocab_size)
    assert (summary.records, summary.bases, summary.tokens) == (1, 90, len(ids))
    assert summary.unk_tokens == counts[1]
    assert summary.top_tokens[0]["count"] == counts[5:].max()
    assert (summary.path, summary.region) == (str(genome), "chrA:11-100")


def test_genome_every_contig(genome):
    summary = summarize_genome(genome, KmerTokenizer(3), chunk_size=16)
    assert (summary.records, summary.bases, summary.tokens) == (2, 180, 128 + 48)
    assert summary.unk_tokens == 7  # the 5 Ns of chrA lie in 7 3-mers


def test_genome_needs_dna(genome):
    with pytest.raises(InputError, match="k-mer tokenizer"):
        summarize_genome(genome, ProteinTokenizer())
