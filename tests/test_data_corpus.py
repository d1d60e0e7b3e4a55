"""Corpora: DNA windows and protein records, their validation splits, keys on the step, alphabet checks."""

from __future__ import annotations

import shutil

import pytest

from seqformer.data import DataConfig, GenomeWindows, ProteinRecords, build_tokenizer, open_corpus, window_length
from seqformer.data.dna import n_fraction
from seqformer.errors import InputError
from seqformer.io import Genome, read_fasta, reverse_complement
from seqformer.tokenizers import KmerTokenizer, ProteinTokenizer

FIXTURES = ("tiny_genome.fa", "tiny_proteins.fa")


@pytest.fixture
def files(tmp_path, data_dir):
    """The training fixtures copied where their index may be written."""
    for name in FIXTURES:
        shutil.copy(data_dir / "training" / name, tmp_path / name)
    return {name.split("_")[1].split(".")[0]: str(tmp_path / name) for name in FIXTURES}


def test_window_length_fills_max_length():
    assert window_length(KmerTokenizer(6, 1), 512) == 515  # 510 k-mers + [CLS] + [SEP]
    assert window_length(KmerTokenizer(3, 3), 32) == 90  # 30 non-overlapping 3-mers
    assert window_length(ProteinTokenizer(), 24) == 22
    assert KmerTokenizer(6, 1).num_tokens(515) == 512


def test_dna_windows_never_touch_validation(files):
    corpus = GenomeWindows([files["genome"]], 40, val_fraction=0.2, val_windows=8, seed=3)
    genome = Genome(files["genome"])
    held = {(s.region.chrom, s.region.start, s.region.end) for s in corpus.held_out}
    assert held == {("chrA", 240, 300), ("chrB", 160, 200)}
    # Every training window lies in a training stretch, which never overlaps a held-out one.
    for stretch in corpus.train:
        for chrom, start, end in held:
            assert stretch.region.chrom != chrom or stretch.region.end <= start or stretch.region.start >= end
    allowed = {seq for s in corpus.train for start in range(s.region.start, s.region.end - 40 + 1)
               for seq in (genome.fetch(s.region.chrom, start, start + 40),)}
    allowed |= {reverse_complement(seq) for seq in allowed}
    seen = [seq for step in range(50) for seq in corpus.train_sequences(step, 0, 1, 4)]
    assert all(seq in allowed for seq in seen)
    assert all(n_fraction(seq) <= 0.1 for seq in seen)  # the 20 N of chrA are skipped
    forward = {genome.fetch(s.region.chrom, a, a + 40)
               for s in corpus.train for a in range(s.region.start, s.region.end - 39)}
    assert 0 < sum(seq in forward for seq in seen) < len(seen)  # both strands
    regions = [region for _, region in corpus.validation_regions()]
    assert [(r.chrom, r.start, r.end) for r in regions] == [("chrA", 240, 280), ("chrB", 160, 200)]
    assert corpus.validation_sequences() == [genome.fetch(r.chrom, r.start, r.end) for r in regions]


def test_dna_batches_depend_on_step_and_rank_only(files):
    corpus = GenomeWindows([files["genome"]], 40, seed=1)
    again = GenomeWindows([files["genome"]], 40, seed=1)
    assert corpus.train_sequences(7, 0, 1, 3) == again.train_sequences(7, 0, 1, 3)
    assert corpus.train_sequences(7, 0, 1, 3) != corpus.train_sequences(8, 0, 1, 3)
    assert corpus.train_sequences(7, 0, 2, 3) != corpus.train_sequences(7, 1, 2, 3)
    assert corpus.validation_sequences() == again.validation_sequences()


def test_dna_regions_and_val_regions(files):
    corpus = GenomeWindows([files["genome"]], 30, regions=("chrA",), val_regions=("chrA:1-60",), seed=0)
    assert [(s.region.chrom, s.region.start, s.region.end) for s in corpus.train] == [("chrA", 60, 300)]
    assert [(r.chrom, r.start, r.end) for _, r in corpus.validation_regions()] == [("chrA", 0, 30), ("chrA", 30, 60)]
    with pytest.raises(InputError, match="contig 'chr1' not in"):
        GenomeWindows([files["genome"]], 30, regions=("chr1",))


def test_dna_corpus_of_several_files(files, tmp_path):
    other = tmp_path / "other.fa"
    other.write_text(">chrC\n" + "ACGTTGCA" * 20 + "\n")
    corpus = GenomeWindows([files["genome"], str(other)], 40, seed=0)
    assert {(s.genome, s.region.chrom) for s in corpus.train} == {(0, "chrA"), (0, "chrB"), (1, "chrC")}


def test_mostly_n_genome_is_unusable(tmp_path):
    path = tmp_path / "n.fa"
    path.write_text(">chrN\n" + "N" * 300 + "\n")
    with pytest.raises(InputError, match="no usable sequence"):
        GenomeWindows([str(path)], 40)


def test_protein_split_by_record_and_epochs(files):
    corpus = ProteinRecords([files["proteins"]], 20, val_fraction=0.2, val_windows=10, seed=0)
    records = {r.seq: r.id for r in read_fasta(files["proteins"], alphabet="protein")}
    val = corpus.validation_sequences()
    assert val and all(len(seq) <= 20 for seq in val)
    train_seqs = set(corpus.train)
    assert not any(full.startswith(seq) for seq in val for full in train_seqs)  # held apart by record
    assert len(train_seqs) + len(val) == len(records)
    n = len(corpus.train)
    epoch = [seq for step in range(n) for seq in corpus.train_sequences(step, 0, 1, 1)]
    assert len({next(full for full in train_seqs if seq in full) for seq in epoch}) == n  # each record once
    assert corpus.train_sequences(3, 1, 2, 2) == ProteinRecords([files["proteins"]], 20, val_fraction=0.2,
                                                                seed=0).train_sequences(3, 1, 2, 2)
    ranks = corpus.train_sequences(0, 0, 2, 2) + corpus.train_sequences(0, 1, 2, 2)
    assert len({next(full for full in train_seqs if seq in full) for seq in ranks}) == 4  # ranks are disjoint


def test_open_corpus_checks_the_alphabet(files):
    with pytest.raises(InputError, match="does not look like DNA"):
        open_corpus(DataConfig(fasta=(files["proteins"],), alphabet="dna"), KmerTokenizer(3), seed=0)
    with pytest.raises(InputError, match="looks like DNA, not protein"):
        open_corpus(DataConfig(fasta=(files["genome"],), alphabet="protein"), ProteinTokenizer(), seed=0)
    corpus = open_corpus(DataConfig(fasta=(files["genome"],), kmer=3, max_length=32), KmerTokenizer(3), seed=0)
    assert corpus.window == 32 and all(len(seq) == 32 for seq in corpus.train_sequences(0, 0, 1, 2))
    assert isinstance(build_tokenizer(DataConfig(alphabet="protein")), ProteinTokenizer)
