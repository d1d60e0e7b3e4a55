"""Attention against substitution matrices (Vig et al.): the statistic against a naive loop, the control,
the matrices, and ``seqformer attention blosum`` / ``attention maps`` files and errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import cli_error, cli_ok
from test_analysis_attention import tiny_encoder

from seqformer.analysis import (amino_acid_attention, attention_correlations, matrix_correlation, random_control,
                                substitution_matrix)
from seqformer.analysis.maps import select_sequences
from seqformer.analysis.substitution import AMINO_ACIDS, AminoAcidAttention, batch_landing, compare_with_matrix
from seqformer.errors import InputError
from seqformer.models import MaskedLM, MaskedLMConfig
from seqformer.tokenizers import KmerTokenizer, ProteinTokenizer

TOK = ProteinTokenizer()
AA_IDS = torch.tensor([TOK.token_to_id(a) for a in AMINO_ACIDS])


def naive_pearson(x, y):
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy)


def naive_statistic(probs, ids, threshold, matrix):
    """Vig et al.'s r, written as loops over sequences, heads, queries and keys."""
    B, N, H, L, _ = probs.shape
    landing = {(n, h): dict.fromkeys(AMINO_ACIDS, 0.0) for n in range(N) for h in range(H)}
    total = {(n, h): 0.0 for n in range(N) for h in range(H)}
    for b in range(B):
        for n in range(N):
            for h in range(H):
                for i in range(L):
                    for j in range(L):
                        w = float(probs[b, n, h, i, j])
                        if ids[b][i] <= 4 or ids[b][j] <= 4 or w <= threshold:
                            continue  # specials and padding, or weights at or below the threshold
                        total[n, h] += w
                        letter = TOK.id_to_token(int(ids[b][j]))
                        if letter in landing[n, h]:
                            landing[n, h][letter] += w
    heads = [key for key in total if total[key] > 0]
    shares = {a: [landing[key][a] / total[key] for key in heads] for a in AMINO_ACIDS}
    xs, ys = [], []
    for i, a in enumerate(AMINO_ACIDS):
        for b in AMINO_ACIDS[:i]:
            if len(set(shares[a])) > 1 and len(set(shares[b])) > 1:
                xs.append(naive_pearson(shares[a], shares[b]))
                ys.append(matrix.loc[a, b])
    return naive_pearson(xs, ys), len(xs), len(heads)


def hand_made_batch(seed=0):
    """Attention (2, 2, 3, L, L) over two padded protein sequences, rows on the real tokens summing to 1."""
    batch = TOK.batch_encode(["ACDEFGHIKLMNPQRSTVWYAC", "WWYCXKLAGG"])
    gen = torch.Generator().manual_seed(seed)
    L = batch.input_ids.shape[1]
    scores = torch.randn(2, 2, 3, L, L, generator=gen) * 3
    real = batch.attention_mask[:, None, None, None, :]
    probs = torch.softmax(scores.masked_fill(~real, float("-inf")), -1) * batch.attention_mask[:, None, None, :, None]
    return probs.double(), batch.input_ids


@pytest.mark.parametrize("threshold", [0.0, 0.1])
def test_the_statistic_equals_a_naive_loop_on_a_hand_made_attention_tensor(threshold):
    probs, ids = hand_made_batch()
    per_landing, per_totals = batch_landing(probs, ids, AA_IDS, threshold)
    assert per_landing.shape == (2, 2, 3, 20) and per_totals.shape == (2, 2, 3)  # per sequence
    landing, totals = per_landing.sum(0), per_totals.sum(0)
    comparison = compare_with_matrix(AminoAcidAttention(threshold, landing, totals), substitution_matrix(),
                                     min_head_weight=0.0, min_heads=2)
    r, pairs, heads = naive_statistic(probs.numpy(), ids.tolist(), threshold, substitution_matrix())
    assert comparison.heads_used == heads == 6
    assert comparison.pairs_used == pairs and pairs > 100
    assert comparison.pearson_r == pytest.approx(r, abs=1e-9)


def test_fewer_kept_heads_than_the_minimum_leave_r_undefined_never_plus_minus_one():
    """Over 2 heads every pair correlation is ±1: below min_heads the pairs are NaN and r is None, with the reason."""
    probs, ids = hand_made_batch()
    landing, totals = (part.sum(0) for part in batch_landing(probs, ids, AA_IDS, 0.0))
    two = AminoAcidAttention(0.0, landing[:1, :2], totals[:1, :2])  # 2 heads
    raw = attention_correlations(two.shares(0.0)).to_numpy()
    assert set(np.round(np.abs(raw[np.isfinite(raw)]), 9)) == {1.0}  # what a 2-head statistic would show
    comparison = compare_with_matrix(two, substitution_matrix(), min_head_weight=0.0, min_heads=3)
    assert comparison.pearson_r is None and comparison.pairs_used == 0
    assert comparison.undefined.startswith("2 heads kept, fewer than the 3 needed")
    assert np.isnan(comparison.correlations.to_numpy()).all()
    assert comparison.summary()["undefined"] == comparison.undefined


def test_enrichment_is_zero_for_a_head_that_attends_like_the_background():
    from seqformer.analysis.substitution import enrichment

    background = pd.Series(np.full(20, 0.05), index=list(AMINO_ACIDS))
    shares = pd.DataFrame([np.full(20, 0.05), np.r_[0.1, np.zeros(18), 0.9]], columns=list(AMINO_ACIDS))
    out = enrichment(shares, background)
    assert np.allclose(out.iloc[0], 0.0)
    assert out.iloc[1]["A"] == pytest.approx(1.0) and out.iloc[1]["Y"] == pytest.approx(np.log2(18))
    assert np.isnan(out.iloc[1]["C"])  # a share of 0: undefined, not -inf


def test_bootstrap_resamples_whole_sequences():
    """Counting every sequence once gives the totals back; the interval is seeded and brackets r."""
    from seqformer.analysis.substitution import bootstrap_interval

    probs, ids = hand_made_batch()
    per = batch_landing(probs, ids, AA_IDS, 0.0)
    summed = AminoAcidAttention(0.0, per[0].sum(0), per[1].sum(0), per)
    once = summed.resampled(np.ones(2))
    np.testing.assert_allclose(once.landing, summed.landing)
    np.testing.assert_allclose(summed.resampled(np.array([2.0, 0.0])).totals, 2 * per[1][0])
    kwargs = {"min_head_weight": 0.0, "min_heads": 2, "replicates": 50, "seed": 3}
    interval = bootstrap_interval(summed, substitution_matrix(), **kwargs)
    assert interval == bootstrap_interval(summed, substitution_matrix(), **kwargs)
    r = compare_with_matrix(summed, substitution_matrix(), min_head_weight=0.0, min_heads=2).pearson_r
    assert interval[0] <= r <= interval[1]


def test_group_order_is_the_twenty_amino_acids():
    from seqformer.analysis.substitution import GROUP_ORDER

    assert sorted(GROUP_ORDER) == sorted(AMINO_ACIDS) and len(GROUP_ORDER) == 20
    assert "".join(GROUP_ORDER).startswith("AVLIMFWY")


def test_heads_below_the_minimum_weight_are_left_out_and_constant_vectors_are_undefined():
    landing = np.zeros((1, 3, 20))
    landing[0, :, 0] = [1.0, 2.0, 3.0]  # A varies over the heads
    landing[0, :, 1] = [3.0, 1.0, 2.0]  # C too; every other amino acid gets nothing
    totals = np.array([[10.0, 10.0, 5.0]])
    summed = AminoAcidAttention(0.1, landing, totals)
    assert list(summed.shares(min_head_weight=6.0).index) == [(0, 0), (0, 1)]
    corr = attention_correlations(summed.shares(min_head_weight=0.0))
    assert corr.loc["A", "C"] == pytest.approx(naive_pearson([0.1, 0.2, 0.6], [0.3, 0.1, 0.4]))
    assert np.isnan(corr.loc["A", "D"]) and np.isnan(corr.loc["A", "A"])
    r, pairs = matrix_correlation(corr, substitution_matrix())
    assert pairs == 1 and r is None  # one defined pair is not enough for a correlation
    one_head = attention_correlations(summed.shares(min_head_weight=0.0).iloc[:1])
    assert one_head.isna().all().all()


def test_substitution_matrices():
    blosum = substitution_matrix("BLOSUM62")
    assert list(blosum.index) == list("ACDEFGHIKLMNPQRSTVWY") == list(blosum.columns)
    assert blosum.loc["A", "R"] == -1 and blosum.loc["W", "W"] == 11 and blosum.loc["I", "V"] == 3
    assert (blosum.to_numpy() == blosum.to_numpy().T).all()
    assert substitution_matrix("PAM250").loc["W", "W"] == 17
    with pytest.raises(InputError, match="unknown substitution matrix 'BLOSUM63'.*BLOSUM62"):
        substitution_matrix("BLOSUM63")
    with pytest.raises(InputError, match="'NUC.4.4' does not score the amino acids"):
        substitution_matrix("NUC.4.4")


def test_control_has_the_same_shape_and_fresh_weights():
    encoder = tiny_encoder("bigbird")
    model = MaskedLM(MaskedLMConfig(encoder.config), tokenizer=TOK)
    torch.nn.init.normal_(model.head.dense.weight, std=1.0)  # as if trained
    state = torch.get_rng_state()
    control = random_control(model, seed=3)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random state is left alone
    assert type(control) is MaskedLM and control.config == model.config and not control.training
    ours, theirs = model.state_dict(), control.state_dict()
    assert ours.keys() == theirs.keys() and all(ours[k].shape == theirs[k].shape for k in ours)
    assert not torch.equal(ours["head.dense.weight"], theirs["head.dense.weight"])
    assert torch.equal(random_control(model, seed=3).state_dict()["head.dense.weight"], theirs["head.dense.weight"])


def test_amino_acid_attention_sums_over_batches_the_same():
    model = tiny_encoder("dense")
    seqs = ["MKTAYIAKQRQISFVK", "ACDEFGHIKLMNPQRSTVWY", "GGGGWWW", "MXXBZKL"]
    one, = amino_acid_attention(model, seqs, thresholds=(0.05,), batch_size=1)
    all_at_once, unthresholded = amino_acid_attention(model, seqs, thresholds=(0.05, 0.0), batch_size=4)
    np.testing.assert_allclose(one.landing, all_at_once.landing, rtol=1e-6)
    np.testing.assert_allclose(one.totals, all_at_once.totals, rtol=1e-6)
    residues = sum(len(s) for s in seqs)  # θ = 0: each residue query's attention to residues
    assert unthresholded.totals.max() <= residues and unthresholded.totals.min() > 0.5 * residues
    assert (unthresholded.landing.sum(-1) <= unthresholded.totals + 1e-9).all()  # X B Z count in the totals only


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("blosum_models")
    for kind in ("dense", "nystromformer"):
        encoder = tiny_encoder(kind)
        MaskedLM(MaskedLMConfig(encoder.config), tokenizer=TOK).save_pretrained(root / kind)
    dna = tiny_encoder("bigbird", tokenizer=KmerTokenizer(k=3, stride=1), max_length=128)
    MaskedLM(MaskedLMConfig(dna.config), tokenizer=dna.tokenizer).save_pretrained(root / "dna")
    return root


def test_blosum_cli_writes_the_summary_matrices_and_figure(models, data_dir, tmp_path):
    out = tmp_path / "blosum"
    printed = json.loads(cli_ok("attention", "blosum", "--model", models / "dense", "--fasta",
                                data_dir / "training" / "tiny_proteins.fa", "--out", out, "--max-seqs", 10,
                                "--min-head-weight", 1, "--threshold", 0.02, "--min-heads", 2, "--bootstrap", 20,
                                "--device", "cpu"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary == printed
    assert summary["matrix"] == "BLOSUM62" and summary["n_sequences"] == 10 and summary["n_residues"] == 360
    assert summary["threshold"] == 0.02 and summary["heads"] == 4 and summary["attention"] == "dense"
    assert summary["heads_used"] >= 1 and summary["pairs_used"] >= 3 and -1 <= summary["pearson_r"] <= 1
    assert summary["control_pearson_r"] is None or -1 <= summary["control_pearson_r"] <= 1
    assert -1 <= summary["unthresholded"]["pearson_r"] <= 1 and summary["unthresholded"]["pairs_used"] == 190
    assert -1 <= summary["unthresholded"]["control_pearson_r"] <= 1
    for name in ("attention_correlations.csv", "control_correlations.csv", "substitution_matrix.csv"):
        table = pd.read_csv(out / name, index_col=0)
        assert table.shape == (20, 20) and list(table.columns) == list(AMINO_ACIDS)
    assert pd.read_csv(out / "substitution_matrix.csv", index_col=0).loc["W", "W"] == 11
    assert (out / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.iterdir()) == sorted(summary["files"])
    assert "head_shares.csv" in summary["files"]


def test_blosum_cli_says_when_no_head_passes_the_threshold(models, data_dir, tmp_path):
    """An undefined r is one line and exit 2 naming the unthresholded figure; the (complete) report stays."""
    out = tmp_path / "blosum"
    line = cli_error("attention", "blosum", "--model", models / "dense", "--fasta",
                     data_dir / "training" / "tiny_proteins.fa", "--out", out, "--max-seqs", 10,
                     "--min-head-weight", 1, "--threshold", 0.1, "--min-heads", 2, "--device", "cpu")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pearson_r"] is None and summary["heads_used"] == 0
    assert "pearson_r is undefined at --threshold 0.1, --min-head-weight 1 and --min-heads 2: 0 heads kept" in line
    assert f"(θ = 0: r = {summary['unthresholded']['pearson_r']:.3f}) in comparison.png" in line
    assert "lower --threshold or --min-head-weight" in line and (out / "comparison.png").is_file()


@pytest.mark.parametrize(("case", "message"), [
    ("nystromformer", "attention kind 'nystromformer' has no attention matrix"),
    ("no_standard", "none of the 2 sequences holds a standard amino acid"),
    ("too_long", "--max-length must be from 3 to the model's attention-extraction limit 64"),
    ("dna_model", "needs a protein model; this one's tokenizer is 'kmer'"),
    ("matrix", "unknown substitution matrix 'BLOSUM99'"),
    ("dna_fasta", "looks like DNA, not protein"),
])
def test_blosum_cli_errors_are_one_line_and_write_nothing(models, data_dir, tmp_path, case, message):
    fasta = data_dir / "training" / "tiny_proteins.fa"
    model, extra = models / "dense", []
    if case == "nystromformer":
        model = models / "nystromformer"
    elif case == "no_standard":
        fasta = tmp_path / "x.fa"
        fasta.write_text(">a\nXXXXBZ\n>b\nXUO\n")
    elif case == "too_long":
        extra = ["--max-length", 65]
    elif case == "dna_model":
        model = models / "dna"
    elif case == "matrix":
        extra = ["--matrix", "BLOSUM99"]
    elif case == "dna_fasta":
        fasta = tmp_path / "dna.fa"
        fasta.write_text(">a\n" + "ACGT" * 30 + "\n")
    line = cli_error("attention", "blosum", "--model", model, "--fasta", fasta, "--out", tmp_path / "out",
                     "--device", "cpu", *extra)
    assert message in line
    assert not (tmp_path / "out").exists()


def test_maps_cli_on_a_genome_region_and_a_fasta(models, data_dir, tmp_path):
    genome = data_dir / "promoters" / "genome.fa"
    out = tmp_path / "maps"
    files = json.loads(cli_ok("attention", "maps", "--model", models / "dna", "--genome", genome,
                              "--region", "chr20:101-160", "--out", out, "--device", "cpu"))["files"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["chr20_101-160.npz", "chr20_101-160.layer0.png", "chr20_101-160.layer0.svg", "chr20_101-160.layer1.png",
         "chr20_101-160.layer1.svg", "heads.tsv", "summary.json"])
    assert len(files) == 7
    arrays = np.load(out / "chr20_101-160.npz")
    assert arrays["tokens"].shape == (2, 2, 60, 60) and arrays["letters"].shape == (2, 2, 60, 60)
    assert str(arrays["seq"]) and len(str(arrays["seq"])) == 60 and arrays["token_labels"][0] == "[CLS]"
    heads = pd.read_csv(out / "heads.tsv", sep="\t")
    assert len(heads) == 4 and set(heads.sequence) == {"chr20:101-160"}
    protein = MaskedLM.from_pretrained(models / "dense")
    picked = select_sequences(protein, fasta=data_dir / "training" / "tiny_proteins.fa", max_seqs=2)
    assert [name for name, _ in picked] == ["A6V1A1", "B0JJJ8"] and picked[0][1].startswith("MRVILLG")
    assert select_sequences(protein, fasta=data_dir / "training" / "tiny_proteins.fa", record="Q07KK6")[0][0] == "Q07KK6"
    with pytest.raises(InputError, match="--genome/--region needs a DNA"):
        select_sequences(protein, genome=genome, region="chr20:1-10")
    line = cli_error("attention", "maps", "--model", models / "dna", "--genome", genome, "--region",
                     "chr20:101-400", "--out", tmp_path / "long", "--device", "cpu")
    assert "longer than the attention-extraction limit of 128 tokens" in line
    assert not (tmp_path / "long").exists()
    line = cli_error("attention", "maps", "--model", models / "nystromformer", "--fasta",
                     data_dir / "training" / "tiny_proteins.fa", "--out", tmp_path / "ny", "--device", "cpu")
    assert "has no attention matrix" in line and not (tmp_path / "ny").exists()


def test_comparison_figure_has_a_panel_per_comparison_and_the_matrix(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    from figure_checks import check_figure
    from matplotlib.figure import Figure

    from seqformer.analysis.substitution import AA_GROUPS, GROUP_ORDER, enrichment
    from seqformer.figures.substitution import (plot_head_enrichment, plot_head_shares,
                                                plot_substitution_comparison, standardised)

    monkeypatch.chdir(tmp_path)
    before = plt.get_fignums()
    probs, ids = hand_made_batch()
    summed = AminoAcidAttention(0.0, *(part.sum(0) for part in batch_landing(probs, ids, AA_IDS, 0.0)))
    comparison = compare_with_matrix(summed, substitution_matrix(), min_head_weight=0.0, min_heads=2)
    undefined = compare_with_matrix(summed, substitution_matrix(), min_head_weight=0.0, min_heads=50)
    fig = plot_substitution_comparison({"model": comparison, "too few heads": undefined}, substitution_matrix(),
                                       matrix_name="BLOSUM62", groups=AA_GROUPS)
    check_figure(fig)
    heatmaps = [ax for ax in fig.axes if ax.get_title()]
    assert isinstance(fig, Figure) and len(heatmaps) == 3
    assert f"r = {comparison.pearson_r:.3f}" in heatmaps[0].get_title() and "BLOSUM62" in heatmaps[2].get_title()
    assert "r undefined" in heatmaps[1].get_title() and np.isnan(heatmaps[1].images[0].get_array().filled(np.nan)).all()
    assert any("6 heads kept, fewer than the 50" in t.get_text() for t in heatmaps[1].texts)
    assert [t.get_text() for t in heatmaps[2].get_xticklabels()] == list(GROUP_ORDER)
    # one scale: each panel is the z-score of its own off-diagonal cells (r is unchanged by that)
    z = standardised(substitution_matrix().loc[list(GROUP_ORDER), list(GROUP_ORDER)].to_numpy())
    np.testing.assert_allclose(heatmaps[2].images[0].get_array().filled(np.nan), z, equal_nan=True)
    assert np.nanmean(z) == pytest.approx(0.0, abs=1e-12) and np.nanstd(z) == pytest.approx(1.0)
    background = pd.Series(np.full(20, 0.05), index=list(AMINO_ACIDS))
    check_figure(plot_head_shares(comparison.shares))
    enriched = plot_head_enrichment(enrichment(comparison.shares, background), background, groups=AA_GROUPS,
                                    title="tiny model")
    check_figure(enriched, unlabelled=("",))  # the background strip (untitled) shares the x axis below it
    assert plt.get_fignums() == before and not list(tmp_path.iterdir())
