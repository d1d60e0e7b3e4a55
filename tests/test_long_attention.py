"""Long inputs: attention read in chunks of query rows equals the dense extraction, sparse maps, blosum sums, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from figure_checks import check_figure
from helpers import cli_error, cli_ok
from test_analysis_attention import KINDS, PROTEINS, tiny_encoder

from seqformer.analysis import attention_probs, head_statistics, sequence_attention
from seqformer.analysis.long_attention import (SparseAttentionMaps, kept_dense, max_tokens, rows_per_chunk,
                                               sparse_sequence_attention, stream_attention)
from seqformer.figures.attention_distance import even_profile, plot_distance_profile
from seqformer.analysis.substitution import AMINO_ACIDS, amino_acid_attention, batch_landing, chunked_landing
from seqformer.analysis.substitution_provis import chunked_edges, count_edges
from seqformer.errors import InputError
from seqformer.models import MaskedLM, MaskedLMConfig
from seqformer.tokenizers import ProteinTokenizer

TOK = ProteinTokenizer()
AA_IDS = torch.tensor([TOK.token_to_id(a) for a in AMINO_ACIDS])
LONG = "".join(np.random.default_rng(0).choice(list("ACDEFGHIKLMNPQRSTVWY"), 3100))  # 3,102 tokens


def streamed(model, batch, chunk_size):
    """(B, N, H, L, L) assembled from the chunks stream_attention hands over."""
    config = model.config
    out = np.zeros((*batch.input_ids.shape[:1], config.num_layers, config.num_heads, *batch.input_ids.shape[1:],
                    batch.input_ids.shape[1]), dtype=np.float32)

    def keep(layer, start, rows):
        out[:, layer, :, start:start + rows.shape[2]] = rows.numpy()

    stream_attention(model, batch, keep, chunk_size=chunk_size)
    return out


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_streamed_chunks_equal_the_dense_extraction_with_padding(kind):
    batch = TOK.batch_encode(PROTEINS)  # (2, 26), the second padded
    model = tiny_encoder(kind)
    expected = attention_probs(model, batch)
    for chunk in (1, 7, 26):  # 7 does not divide 26
        np.testing.assert_allclose(streamed(model, batch, chunk), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["bigbird", "performer-relu", "reformer-lsh"])
def test_sparse_maps_of_a_short_input_keep_the_dense_weights_and_statistics(kind):
    model = tiny_encoder(kind)
    seq = PROTEINS[0] + PROTEINS[1]
    dense = sequence_attention(model, seq, "p")
    full = sparse_sequence_attention(model, seq, "p", top_k=64, chunk_size=9)  # top-k above L: every non-zero
    np.testing.assert_allclose(kept_dense(full), dense.probs, atol=1e-6)
    pd.testing.assert_frame_equal(full.statistics, head_statistics(dense), rtol=1e-6)
    np.testing.assert_allclose(full.saved_share, 1.0, atol=1e-5)
    np.testing.assert_allclose(full.profile.sum(-1), 1.0, atol=1e-5)
    offsets = np.abs(np.arange(40)[:, None] - np.arange(40)[None, :])
    np.testing.assert_allclose(full.profile[1, 0, 3], dense.probs[1, 0][offsets == 3].sum() / 40, atol=1e-6)

    top = sparse_sequence_attention(model, seq, "p", top_k=3, chunk_size=16)
    assert top.shape == (2, 2, 40, 40) and top.top_k == 3 and len(top.weights) == 2 * 2 * 40 * 3
    expected = -np.sort(-dense.probs, axis=-1)[..., :3]  # (N, H, L, 3) heaviest first
    got = top.weights.reshape(2, 2, 40, 3)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_array_equal(top.rows.reshape(2, 2, 40, 3), np.arange(40)[None, None, :, None].repeat(3, -1)
                                  .repeat(2, 0).repeat(2, 1))
    np.testing.assert_allclose(top.saved_share, expected.sum(-1).mean(-1), atol=1e-6)
    pd.testing.assert_frame_equal(top.statistics, full.statistics)  # statistics come from the full rows


def test_every_nonzero_weight_of_a_sparse_kind():
    model = tiny_encoder("bigbird")
    seq = PROTEINS[0] * 2
    dense = sequence_attention(model, seq, "p").probs
    maps = sparse_sequence_attention(model, seq, "p", all_nonzero=True, chunk_size=11)
    assert maps.top_k is None and len(maps.weights) == int((dense > 0).sum())
    np.testing.assert_allclose(kept_dense(maps), dense, atol=1e-6)
    order = np.lexsort((maps.cols, maps.rows, maps.head, maps.layer))
    np.testing.assert_array_equal(order, np.arange(len(order)))  # sorted by layer, head, row, key


def test_a_long_input_above_the_dense_limit_up_to_max_length():
    model = tiny_encoder("bigbird", max_length=4096, attention_options={"block_size": 16, "num_random_blocks": 1})
    with pytest.raises(InputError, match="3,102 tokens is longer than the attention-extraction limit of 2,048"):
        sequence_attention(model, LONG, "long")
    maps = sparse_sequence_attention(model, LONG, "long", top_k=8)
    assert isinstance(maps, SparseAttentionMaps) and maps.shape == (2, 2, 3102, 3102) and max_tokens(model) == 4096
    assert len(maps.weights) == 2 * 2 * 3102 * 8 and (maps.weights > 0).all()
    assert maps.chunk_size == rows_per_chunk(1, 2, 3102) == 2**22 // (2 * 3102)
    np.testing.assert_allclose(maps.profile.sum(-1), 1.0, atol=1e-5)
    assert ((maps.statistics.density > 0) & (maps.statistics.density < 0.1)).all()  # BigBird's block mask
    with pytest.raises(InputError, match="4,098 tokens is longer than the attention-extraction limit of 4,096"):
        sparse_sequence_attention(model, "A" * 4096, "too_long")


def test_bad_options_are_input_errors():
    model = tiny_encoder("dense")
    for options, message in (({"top_k": 0}, "--top-k must be an integer of at least 1"),
                             ({"chunk_size": 0}, "--chunk-size must be an integer of at least 1"),
                             ({"all_nonzero": True}, "all L² of them per head for attention 'dense'")):
        with pytest.raises(InputError, match=message):
            sparse_sequence_attention(model, PROTEINS[0], "p", **options)
    with pytest.raises(InputError, match="nystromformer.* has no attention matrix"):
        sparse_sequence_attention(tiny_encoder("nystromformer"), PROTEINS[0], "p")


def test_chunked_landing_equals_the_dense_sums():
    batch = TOK.batch_encode(PROTEINS)
    for kind in ("dense", "bigbird", "performer-softmax"):
        model = tiny_encoder(kind)
        probs = torch.from_numpy(attention_probs(model, batch))
        chunked = chunked_landing(model, batch, AA_IDS, (0.0, 0.04), TOK, chunk_size=5)
        for theta, (landing, totals) in zip((0.0, 0.04), chunked):
            expected = batch_landing(probs, batch.input_ids, AA_IDS, theta, TOK)
            np.testing.assert_allclose(landing, expected[0], rtol=1e-6, atol=1e-12)
            np.testing.assert_allclose(totals, expected[1], rtol=1e-6, atol=1e-12)
        body = TOK.is_body(batch.input_ids)
        edges = chunked_edges(model, batch, body, AA_IDS, 0.04, chunk_size=6)
        dense_edges = count_edges(probs, batch.input_ids, body, AA_IDS, 0.04)
        np.testing.assert_array_equal(edges.to_amino_acid, dense_edges.to_amino_acid)
        np.testing.assert_array_equal(edges.edges, dense_edges.edges)


@pytest.mark.parametrize("kind", ["performer-relu", "bigbird"])
def test_amino_acid_attention_runs_on_a_3000_residue_protein(kind):
    options = {"num_features": 16} if kind == "performer-relu" else {"block_size": 32, "num_random_blocks": 1}
    model = tiny_encoder(kind, max_length=4096, attention_options=options)
    landing, totals = amino_acid_attention(model, [PROTEINS[0], LONG], thresholds=(0.0,),
                                           batch_size=1)[0].per_sequence  # (S, N, H, A), (S, N, H)
    assert landing.shape == (2, 2, 2, 20) and totals.shape == (2, 2, 2)
    # θ = 0: each residue query's attention on residue keys (all of it but what goes to [CLS] and [SEP])
    assert ((totals[1] > 2900) & (totals[1] <= 3100)).all() and (landing[1].sum(-1) <= totals[1] + 1e-9).all()


def test_distance_profile_figure(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    before = plt.get_fignums()
    maps = sparse_sequence_attention(tiny_encoder("longformer", max_length=512), PROTEINS[0] * 10, "p", top_k=4)
    fig = plot_distance_profile(maps, 1, model="tiny")
    assert check_figure(fig) == []
    ax = fig.axes[0]
    assert ax.get_xlabel() == "query–key distance d = |i − j| (residues)" and ax.get_xscale() == "log"
    assert [line.get_label() for line in ax.lines][-1] == "even over all keys" and len(ax.lines) == 3
    assert "layer 1 (longformer, 242 tokens)" in ax.get_title(loc="left")
    assert plt.get_fignums() == before and not list(tmp_path.iterdir())
    np.testing.assert_allclose(even_profile(5).sum(), 1.0)


@pytest.fixture(scope="module")
def long_model(tmp_path_factory):
    """A tiny BigBird protein masked LM: dense maps up to 64 tokens (max_weights_length), sparse up to 400."""
    folder = tmp_path_factory.mktemp("long_maps") / "tiny_bigbird"
    encoder = tiny_encoder("bigbird", max_length=400,
                           attention_options={"block_size": 4, "num_random_blocks": 1, "max_weights_length": 64})
    MaskedLM(MaskedLMConfig(encoder.config), tokenizer=encoder.tokenizer).save_pretrained(folder)
    return folder


def test_maps_cli_saves_long_inputs_sparse_and_short_ones_as_before(long_model, tmp_path):
    fasta = tmp_path / "mixed.fa"
    long_seq = LONG[:300]
    fasta.write_text(f">short\n{PROTEINS[0]}\n>long\n{long_seq}\n>too_long\n{LONG[:500]}\n")
    alone = tmp_path / "alone.fa"
    alone.write_text(f">short\n{PROTEINS[0]}\n")
    out, before = tmp_path / "maps", tmp_path / "before"
    cli_ok("attention", "maps", "--model", long_model, "--fasta", alone, "--out", before, "--device", "cpu")
    cli_ok("attention", "maps", "--model", long_model, "--fasta", fasta, "--out", out, "--top-k", 5,
           "--chunk-size", 64, "--device", "cpu")
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["heads.tsv", "summary.json", "short.npz", "long.npz"]
                           + [f"short.layer{i}.{ext}" for i in (0, 1) for ext in ("png", "svg")]
                           + [f"long.layer{i}.distance.{ext}" for i in (0, 1) for ext in ("png", "svg")])
    short, previous = np.load(out / "short.npz"), np.load(before / "short.npz")
    assert sorted(short.files) == sorted(previous.files)
    for key in short.files:  # the short record's maps are today's, array for array
        np.testing.assert_array_equal(short[key], previous[key])
    heads = pd.read_csv(out / "heads.tsv", sep="\t")
    pd.testing.assert_frame_equal(heads[heads.sequence == "short"].reset_index(drop=True),
                                  pd.read_csv(before / "heads.tsv", sep="\t"))
    assert (out / "short.layer0.png").read_bytes() == (before / "short.layer0.png").read_bytes()
    sparse = np.load(out / "long.npz")
    assert str(sparse["format"]) == "sparse" and tuple(sparse["shape"]) == (2, 2, 302, 302) and sparse["top_k"] == 5
    assert len(sparse["weights"]) == 2 * 2 * 302 * 5 and sparse["distance_profile"].shape == (2, 2, 302)
    assert sparse["rows"].dtype == np.int32 and sparse["layer"].dtype == np.int16
    long_heads = heads[heads.sequence == "long"]
    np.testing.assert_allclose(sparse["entropy"].ravel(), long_heads.entropy, rtol=1e-5)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["limit_tokens"] == 400 and summary["skipped_too_long"] == [{"name": "too_long", "tokens": 502}]
    assert summary["sparse_maps"] == {"dense_limit_tokens": 64, "sequences": ["long"],
                                      "kept": "the 5 heaviest keys per query and head", "top_k": 5,
                                      "chunk_rows": [64], "weights_kept": 2 * 2 * 302 * 5}
    assert "sparse_maps" not in json.loads((before / "summary.json").read_text())
    assert (out / "long.layer1.distance.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(("extra", "message"), [
    (["--top-k", 0], "--top-k must be an integer of at least 1 key per query, got 0"),
    (["--chunk-size", 0], "--chunk-size must be an integer of at least 1 query row, got 0"),
    (["--record", "too_long"], "502 tokens is longer than the attention-extraction limit of 400 tokens"),
])
def test_maps_cli_bad_long_options_are_one_line_exit_2(long_model, tmp_path, extra, message):
    fasta = tmp_path / "p.fa"
    fasta.write_text(f">long\n{LONG[:300]}\n>too_long\n{LONG[:500]}\n")
    line = cli_error("attention", "maps", "--model", long_model, "--fasta", fasta, "--out", tmp_path / "o",
                     "--device", "cpu", *extra)
    assert message in line and not (tmp_path / "o").exists()


def test_maps_cli_on_a_long_dna_region_with_a_tss(tmp_path, data_dir):
    from seqformer.tokenizers import KmerTokenizer

    folder = tmp_path / "dna_bigbird"
    dna = tiny_encoder("bigbird", tokenizer=KmerTokenizer(k=3, stride=1), max_length=2048,
                       attention_options={"block_size": 8, "num_random_blocks": 1, "max_weights_length": 256})
    MaskedLM(MaskedLMConfig(dna.config), tokenizer=dna.tokenizer).save_pretrained(folder)
    out = tmp_path / "maps"
    cli_ok("attention", "maps", "--model", folder, "--genome", data_dir / "promoters" / "genome.fa", "--region",
           "chr20:1001-2500", "--tss", 2000, "--all-nonzero", "--out", out, "--device", "cpu")
    arrays = np.load(out / "chr20_1001-2500.npz")
    assert tuple(arrays["shape"]) == (2, 2, 1500, 1500) and arrays["top_k"] == 0  # 1,498 3-mers + 2 specials
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tss_offset"] == 999 and summary["sparse_maps"]["kept"] == "every non-zero weight"
    density = pd.read_csv(out / "heads.tsv", sep="\t").density.to_numpy()
    np.testing.assert_allclose(len(arrays["weights"]), density.sum() * 1500 ** 2, rtol=1e-5)  # every non-zero kept
    np.testing.assert_allclose(arrays["saved_share"], 1.0, atol=1e-5)
