"""``seqformer attention blosum --mode provis``: provis's sample, edges and r against naive loops, and its files."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import cli_error, cli_ok
from test_analysis_attention import tiny_encoder

from seqformer.analysis import amino_acid_attention, substitution_matrix
from seqformer.analysis.attention import attention_probs
from seqformer.analysis.substitution import AMINO_ACIDS, AminoAcidAttention, compare_with_matrix
from seqformer.analysis.substitution_provis import count_edges, provis_blosum, sample_indices
from seqformer.io.fasta import read_fasta
from seqformer.models import MaskedLM, MaskedLMConfig
from seqformer.tokenizers import ProteinTokenizer

TOK = ProteinTokenizer()
AA_IDS = torch.tensor([TOK.token_to_id(a) for a in AMINO_ACIDS])
SEQS = ["ACDEFGHIKLMNPQRSTVWYAC", "WWYCXKLAGG", "MKTAYIAKQRQ", "GGGPPW"]


def tiny_model(seed: int = 0) -> MaskedLM:
    """A random protein masked LM: width 32, 2 layers x 4 heads."""
    encoder = tiny_encoder("dense", hidden_size=32, num_heads=4, seed=seed)
    return MaskedLM(MaskedLMConfig(encoder.config), tokenizer=TOK).eval()


def naive_pearson(x, y):
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    return sxy / math.sqrt(sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y))


def naive_counts(probs, ids, threshold):
    """provis's compute_mean_attention with the aa feature, as loops: per (layer, head) the edges, and those into a."""
    B, N, H, L, _ = probs.shape
    edges, to_aa = np.zeros((N, H), dtype=np.int64), np.zeros((N, H, len(AMINO_ACIDS)), dtype=np.int64)
    for b in range(B):
        residues = [i for i in range(L) if ids[b][i] > 4]  # [CLS] [SEP] [PAD] removed: attn[:, :, 1:-1, 1:-1]
        for n in range(N):
            for h in range(H):
                for i in residues:
                    for j in residues:
                        if not float(probs[b, n, h, i, j]) > threshold:  # a high-confidence edge only
                            continue
                        edges[n, h] += 1
                        letter = TOK.id_to_token(int(ids[b][j]))
                        if letter in AMINO_ACIDS:
                            to_aa[n, h, AMINO_ACIDS.index(letter)] += 1
    return to_aa, edges


def naive_provis_r(to_aa, edges, min_total, matrix):
    """report_aa_correlations.create_figures, as loops (20 standard amino acids)."""
    heads = [(n, h) for n in range(edges.shape[0]) for h in range(edges.shape[1]) if edges[n, h] >= min_total]
    vectors = {a: [to_aa[n, h, k] / edges[n, h] for n, h in heads] for k, a in enumerate(AMINO_ACIDS)}
    corr, blosum = [], []
    for i, a in enumerate(AMINO_ACIDS):
        for b in AMINO_ACIDS[:i]:
            corr.append(naive_pearson(vectors[a], vectors[b]))
            blosum.append(matrix.loc[a, b])
    return naive_pearson(corr, blosum), len(heads)


def hand_made_batch(seed=0):
    """Attention (3, 2, 3, L, L) over padded sequences; rows of real tokens sum to 1; specials attended to as well."""
    batch = TOK.batch_encode(SEQS[:3])
    gen = torch.Generator().manual_seed(seed)
    L = batch.input_ids.shape[1]
    scores = torch.randn(3, 2, 3, L, L, generator=gen) * 3
    real = batch.attention_mask[:, None, None, None, :]
    probs = torch.softmax(scores.masked_fill(~real, float("-inf")), -1) * batch.attention_mask[:, None, None, :, None]
    return probs, batch.input_ids


@pytest.mark.parametrize("threshold", [0.05, 0.1, 0.3])
def test_edge_counts_and_r_equal_provis_written_as_loops(threshold):
    probs, ids = hand_made_batch()
    counts = count_edges(probs, ids, ids > 4, AA_IDS, threshold)
    to_aa, edges = naive_counts(probs.numpy(), ids.tolist(), threshold)
    assert counts.to_amino_acid.shape == (2, 3, 20) and counts.edges.shape == (2, 3)
    np.testing.assert_array_equal(counts.to_amino_acid, to_aa)
    np.testing.assert_array_equal(counts.edges, edges)
    assert edges.min() > 0 and (to_aa.sum(-1) <= edges).all()  # X keys count in E_k only
    comparison = compare_with_matrix(AminoAcidAttention(threshold, to_aa.astype(float), edges.astype(float)),
                                     substitution_matrix(), min_head_weight=0.0, min_heads=2)
    r, heads = naive_provis_r(to_aa, edges, 0, substitution_matrix())
    assert comparison.heads_used == heads == 6 and comparison.pairs_used == 190
    assert comparison.pearson_r == pytest.approx(r, abs=1e-12)


def test_an_edge_is_strictly_above_the_threshold_and_counts_once_whatever_its_weight():
    ids = torch.tensor([[2, 5, 6, 3]])  # [CLS] A C [SEP]
    probs = torch.zeros(1, 1, 1, 4, 4)
    probs[0, 0, 0, 1, 1:3] = torch.tensor([0.25, 0.75])  # A→A at θ exactly, A→C above
    probs[0, 0, 0, 2, 1:3] = torch.tensor([0.5, 0.25])  # C→A above, C→C at θ exactly
    counts = count_edges(probs, ids, ids > 4, AA_IDS, 0.25)
    assert counts.edges.tolist() == [[2]]
    assert counts.to_amino_acid[0, 0, AMINO_ACIDS.index("A")] == 1 and counts.to_amino_acid[0, 0, 1] == 1
    assert count_edges(probs, ids, ids > 4, AA_IDS, 0.2499).edges.tolist() == [[4]]


def test_specials_and_padding_are_never_counted():
    ids = torch.tensor([[2, 5, 6, 3, 0], [2, 7, 3, 0, 0]])  # [CLS] A C [SEP] [PAD] / [CLS] D [SEP] [PAD] [PAD]
    probs = torch.full((2, 1, 1, 5, 5), 0.9)  # every cell a strong weight, specials and padding included
    counts = count_edges(probs, ids, ids > 4, AA_IDS, 0.3)
    assert counts.edges.tolist() == [[4 + 1]]  # A,C x A,C in the first sequence; D→D in the second
    expected = dict.fromkeys(AMINO_ACIDS, 0) | {"A": 2, "C": 2, "D": 1}
    assert counts.to_amino_acid[0, 0].tolist() == [expected[a] for a in AMINO_ACIDS]


def test_the_sample_is_provis_randperm_seeded_and_all_when_fewer():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        provis = torch.randperm(25)[:7].tolist()  # provis: torch.manual_seed(args.seed); torch.randperm(len(dataset))
    assert sample_indices(25, 7, seed=123).tolist() == provis
    assert sample_indices(25, 7, seed=123).tolist() == sample_indices(25, 7, seed=123).tolist()
    assert sample_indices(25, 7, seed=1).tolist() != provis
    assert len(set(sample_indices(25, 7, seed=5).tolist())) == 7  # without replacement
    assert sorted(sample_indices(3, 5000).tolist()) == [0, 1, 2]  # all when fewer
    model = tiny_model()
    every = provis_blosum(model, SEQS, num_sequences=5000, threshold=0.0, min_head_edges=0, min_heads=2)
    assert sorted(every.indices.tolist()) == [0, 1, 2, 3] and every.summary()["n_sequences"] == 4
    two = provis_blosum(model, SEQS, num_sequences=2, seed=4, threshold=0.0, min_head_edges=0, min_heads=2)
    picked = sample_indices(4, 2, seed=4).tolist()
    assert two.indices.tolist() == picked and two.n_residues == sum(len(SEQS[i]) for i in picked)
    again = provis_blosum(model, [SEQS[i] for i in picked], num_sequences=None, threshold=0.0, min_head_edges=0,
                          min_heads=2)
    np.testing.assert_array_equal(two.counts.edges, again.counts.edges)
    assert two.summary()["seed"] == 4 and again.summary()["seed"] is None


def test_provis_blosum_on_a_model_equals_the_loops_over_unpadded_sequences():
    """Batched with padding (batch_size 3) = each sequence alone through attention_probs, counted by the loops."""
    model = tiny_model()
    result = provis_blosum(model, SEQS, num_sequences=None, threshold=0.04, batch_size=3, min_head_edges=0,
                           min_heads=2)
    to_aa, edges = np.zeros((2, 4, 20), dtype=np.int64), np.zeros((2, 4), dtype=np.int64)
    for seq in SEQS:
        batch = TOK.batch_encode([seq])
        part = naive_counts(attention_probs(model, batch), batch.input_ids.tolist(), 0.04)
        to_aa, edges = to_aa + part[0], edges + part[1]
    np.testing.assert_array_equal(result.counts.to_amino_acid, to_aa)
    np.testing.assert_array_equal(result.counts.edges, edges)
    r, heads = naive_provis_r(to_aa, edges, 0, substitution_matrix())
    assert result.pearson_r == pytest.approx(r, abs=1e-12) and heads == 8
    heads_table = result.heads()
    assert list(heads_table.columns[:4]) == ["layer", "head", "edges", "kept"]
    assert heads_table["edges"].tolist() == edges.ravel().tolist() and heads_table["kept"].all()
    np.testing.assert_allclose(heads_table[list(AMINO_ACIDS)].to_numpy(), (to_aa / edges[..., None]).reshape(8, 20))
    top = result.top_heads()
    best = heads_table.set_index(["layer", "head"])[list(AMINO_ACIDS)].idxmax()
    assert [tuple(row) for row in top[["layer", "head"]].to_numpy()] == list(best)
    assert top.loc["W", "share"] == pytest.approx(heads_table.set_index(["layer", "head"])["W"].max())
    # edges are counted, not weighted: not --mode weighted's statistic on the same sequences and θ
    summed, = amino_acid_attention(model, SEQS, thresholds=(0.04,), batch_size=3)
    weighted = compare_with_matrix(summed, substitution_matrix(), min_head_weight=0, min_heads=2)
    assert abs(weighted.pearson_r - result.pearson_r) > 1e-6


def test_r_is_undefined_with_its_reason_when_too_few_edges_or_heads():
    model = tiny_model()  # random attention: weights near 1/L, none above 0.3
    result = provis_blosum(model, SEQS, min_head_edges=0, min_heads=2)
    summary = result.summary()
    assert summary["edges"] == 0 and summary["heads_used"] == 0 and summary["pearson_r"] is None
    assert summary["undefined"].startswith("0 heads kept, fewer than the 2 needed")
    assert result.top_heads().empty and not result.heads()["kept"].any()
    light = provis_blosum(model, SEQS, threshold=0.04, min_head_edges=10**6, min_heads=2)  # E_k < min_total
    assert light.summary()["edges"] > 0 and light.pearson_r is None and light.summary()["edges_in_kept_heads"] == 0
    few = provis_blosum(model, SEQS, threshold=0.04, min_head_edges=0, min_heads=9)  # 8 heads
    assert few.pearson_r is None and few.comparison.undefined.startswith("8 heads kept, fewer than the 9 needed")
    every = provis_blosum(model, SEQS, threshold=0.0, min_head_edges=0, min_heads=2)  # every pair is an edge
    assert (every.counts.edges == sum(len(s) ** 2 for s in SEQS)).all()  # so every head has the same shares
    assert every.pearson_r is None and every.comparison.undefined == "only 0 amino-acid pairs defined (3 needed)"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("provis_model")
    tiny_model().save_pretrained(root / "dense")
    return root / "dense"


def test_cli_writes_both_modes(model_dir, data_dir, tmp_path):
    fasta = data_dir / "training" / "tiny_proteins.fa"
    common = ["attention", "blosum", "--model", model_dir, "--fasta", fasta, "--min-heads", 2, "--device", "cpu"]
    weighted = json.loads(cli_ok(*common, "--out", tmp_path / "weighted", "--max-seqs", 5, "--bootstrap", 0,
                                 "--min-head-weight", 1, "--threshold", 0.02))
    assert "mode" not in weighted and weighted["n_sequences"] == 5 and weighted["heads"] == 8
    out = tmp_path / "provis"
    printed = json.loads(cli_ok(*common, "--out", out, "--mode", "provis", "--num-sequences", 6, "--seed", 1,
                                "--min-head-edges", 1, "--threshold", 0.026))  # weights of random heads are ~1/38
    summary = json.loads((out / "summary.json").read_text())
    assert summary == printed and summary["mode"] == "provis" and summary["threshold"] == 0.026
    assert summary["n_sequences"] == 6 and summary["sampled_from"] == 12 and summary["seed"] == 1
    assert summary["max_length"] == 64 and summary["heads"] == 8 and -1 <= summary["pearson_r"] <= 1
    assert sorted(p.name for p in out.iterdir()) == sorted(summary["files"])
    sample = pd.read_csv(out / "sample.csv")
    assert sample["record"].tolist() == sample_indices(12, 6, seed=1).tolist()
    records = list(read_fasta(fasta, alphabet="protein"))
    assert sample["id"].tolist() == [records[i].id for i in sample["record"]]
    again = provis_blosum(MaskedLM.from_pretrained(model_dir), [records[i].seq for i in sample["record"]],
                          num_sequences=None, threshold=0.026, min_head_edges=1, min_heads=2)
    assert again.pearson_r == pytest.approx(summary["pearson_r"], abs=1e-9)
    heads = pd.read_csv(out / "heads.csv")
    assert len(heads) == 8 and heads["edges"].sum() == summary["edges"]
    assert pd.read_csv(out / "attention_correlations.csv", index_col=0).shape == (20, 20)
    assert (out / "comparison.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_provis_undefined_r_and_errors(model_dir, data_dir, tmp_path):
    fasta = data_dir / "training" / "tiny_proteins.fa"
    base = ["attention", "blosum", "--model", model_dir, "--fasta", fasta, "--device", "cpu", "--mode", "provis"]
    out = tmp_path / "undefined"
    line = cli_error(*base, "--out", out, "--min-heads", 2)  # θ = 0.3: a random model keeps no edge
    summary = json.loads((out / "summary.json").read_text())
    assert summary["threshold"] == 0.3 and summary["num_sequences"] == 5000 and summary["n_sequences"] == 12
    assert summary["pearson_r"] is None and summary["edges"] == 0 and summary["min_head_edges"] == 100
    assert "pearson_r is undefined in --mode provis at --threshold 0.3" in line and "(0 edges above" in line
    for extra, message in [(["--max-seqs", 5], "--max-seqs belongs to --mode weighted, not --mode provis"),
                           (["--min-head-weight", 5], "--min-head-weight belongs to --mode weighted"),
                           (["--bootstrap", 5, "--max-seqs", 2],
                            "--max-seqs and --bootstrap belong to --mode weighted"),
                           (["--mode", "vig"], "--mode must be weighted or provis, got 'vig'")]:
        assert message in cli_error(*base, "--out", tmp_path / "bad", *extra)
    line = cli_error("attention", "blosum", "--model", model_dir, "--fasta", fasta, "--out", tmp_path / "bad",
                     "--num-sequences", 3, "--min-head-edges", 3)
    assert "--num-sequences and --min-head-edges belong to --mode provis, not --mode weighted" in line
    assert not (tmp_path / "bad").exists()
