"""attribute → motifs discover on a model whose answer is known: a planted CTCF site is recovered and matched.

The model is made by hand: overlapping 6-mers, blocks zeroed (identity), no final LayerNorm, mean
pooling, and one embedding dimension, read by the head, that is 1 for the 6-mers of CTCF's consensus
(both strands) and small seeded noise (sd 0.02) for every other 6-mer. Its logit is about the share
of a window's 6-mers that lie in a CTCF site, so its attributions must single out the planted sites,
and TF-MoDISco on them must give back a pattern whose best JASPAR match is CTCF. Without the noise
every attribution is ≥ 0 and TF-MoDISco cannot fit its null: that is a one-line error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from helpers import cli_error, cli_ok

from seqformer.analysis.motif_db import jaspar_motifs
from seqformer.analysis.motifs import consensus
from seqformer.io.fasta import FastaRecord, write_fasta
from seqformer.models import EncoderConfig
from seqformer.models.classifier import ClassifierConfig, SequenceClassifier
from seqformer.tokenizers import KmerTokenizer

N_SEQS, LENGTH, CTCF = 300, 100, "MA0139"


def _rc(seq: str) -> str:
    return seq.translate(str.maketrans("ACGT", "TGCA"))[::-1]


def _ctcf_detector(site: str, noise: float = 0.02) -> SequenceClassifier:
    tokenizer = KmerTokenizer(6, 1)
    encoder = EncoderConfig.for_tokenizer(tokenizer, hidden_size=4, num_layers=1, num_heads=1, ffn_size=4,
                                          max_length=128, final_norm=False)
    model = SequenceClassifier(ClassifierConfig(encoder, ("ctcf",), problem_type="binary", window=LENGTH,
                                                head_dropout=0.0), tokenizer=tokenizer)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        generator = torch.Generator().manual_seed(0)
        model.encoder.embed.weight[:, 0] = noise * torch.randn(tokenizer.vocab_size, generator=generator)
        for strand in (site, _rc(site)):
            for i in range(len(strand) - 5):
                model.encoder.embed.weight[tokenizer.token_to_id(strand[i:i + 6]), 0] = 1.0
        model.head.out.weight[0, 0] = 10.0
    return model.eval()


def test_a_planted_ctcf_site_is_recovered_and_matched_to_jaspar(tmp_path):
    jaspar = jaspar_motifs(tax_group="vertebrates")
    site = consensus(jaspar.ppm(CTCF))
    rng = np.random.default_rng(0)
    records = []
    for i in range(N_SEQS):
        seq = "".join(rng.choice(list("ACGT"), LENGTH))
        planted = site if rng.random() < 0.5 else _rc(site)  # every sequence holds one site
        start = int(rng.integers(0, LENGTH - len(planted)))
        records.append(FastaRecord(f"s{i}", "", seq[:start] + planted + seq[start + len(planted):]))
    write_fasta(records, tmp_path / "planted.fa")
    model = _ctcf_detector(site)
    model.save_pretrained(tmp_path / "model")

    cli_ok("attribute", "--model", tmp_path / "model", "--fasta", tmp_path / "planted.fa", "--out", tmp_path / "attr",
           "--quiet")
    cli_ok("motifs", "discover", "--attributions", tmp_path / "attr", "--out", tmp_path / "motifs", "--window", "15",
           "--flank", "5", "--leiden-runs", "4", "--jaspar-tax-group", "vertebrates", "--quiet")
    motifs = pd.read_csv(tmp_path / "motifs" / "motifs.tsv", sep="\t")
    top = motifs[motifs["sign"] == "+"].sort_values("n_seqlets", ascending=False).iloc[0]
    assert top["best_match_id"].startswith(CTCF + ".") and top["best_match_name"] == "CTCF"
    assert top["best_match_q"] < 0.05 and top["n_seqlets"] >= 50  # seqlets of the 300 planted sites


def test_attributions_of_one_sign_are_a_one_line_error(tmp_path):
    site = consensus(jaspar_motifs(tax_group="vertebrates").ppm(CTCF))
    rng = np.random.default_rng(1)
    records = [FastaRecord(f"s{i}", "", "".join(rng.choice(list("ACGT"), LENGTH))) for i in range(N_SEQS)]
    write_fasta(records, tmp_path / "random.fa")
    _ctcf_detector(site, noise=0.0).save_pretrained(tmp_path / "model")
    cli_ok("attribute", "--model", tmp_path / "model", "--fasta", tmp_path / "random.fa", "--out", tmp_path / "attr",
           "--quiet")
    line = cli_error("motifs", "discover", "--attributions", tmp_path / "attr", "--out", tmp_path / "motifs",
                     "--window", "15", "--flank", "5", "--leiden-runs", "4", "--quiet")
    assert "TF-MoDISco could not run on these attributions" in line and not (tmp_path / "motifs").exists()
