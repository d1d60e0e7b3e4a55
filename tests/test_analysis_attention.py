"""Attention extraction: each kind against its dense masked reference, rows, letters, errors, figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from attention_helpers import padding_mask

from seqformer.analysis import (AttentionMaps, attention_frame, attention_probs, check_extractable, extraction_limit,
                                head_statistics, letter_attention, sequence_attention)
from seqformer.analysis.attention import letter_weights
from seqformer.figures.attention import plot_heads, plot_layers
from seqformer.figures.heatmap import position_labels
from seqformer.attention import masked_softmax_attention
from seqformer.attention.performer import feature_map
from seqformer.errors import InputError
from seqformer.models import EncoderConfig, MaskedLM, MaskedLMConfig, SeqEncoder
from seqformer.models.classifier import ClassifierConfig, SequenceClassifier
from seqformer.tokenizers import KmerTokenizer, ProteinTokenizer

KINDS = {
    "dense": {},
    "bigbird": {"block_size": 4, "num_random_blocks": 1},
    "performer-softmax": {"num_features": 16},
    "performer-relu": {"num_features": 16},
    "longformer": {"window": 3},
    "reformer-lsh": {"n_buckets": 2, "chunk_size": 8},
}
PROTEINS = ["MKTAYIAKQRQISFVKSHFSRQLE", "ACDEFGHIKLMNPQ"]


def tiny_encoder(kind: str = "dense", tokenizer=None, seed: int = 0, **fields) -> SeqEncoder:
    """A random 2-layer, 2-head encoder of width 16."""
    tokenizer = tokenizer or ProteinTokenizer()
    torch.manual_seed(seed)
    fields = {"hidden_size": 16, "num_layers": 2, "num_heads": 2, "ffn_size": 32, "attention": kind,
              "attention_options": KINDS.get(kind, {}), "max_length": 64, **fields}
    config = EncoderConfig.for_tokenizer(tokenizer, **fields)
    return SeqEncoder(config, tokenizer=tokenizer).eval()


def captured_qk(model: SeqEncoder, inputs, layer: int):
    """The (q, k, v) each layer's attention kind received in one forward pass."""
    seen = {}
    module = model.blocks[layer].attention.attention

    def keep(mod, args, out):
        seen["qkv"] = args[:3]

    handle = module.register_forward_hook(keep)
    try:
        with torch.no_grad():
            model(inputs.input_ids, inputs.attention_mask)
    finally:
        handle.remove()
    return seen["qkv"]


@pytest.fixture
def batch():
    return ProteinTokenizer().batch_encode(PROTEINS)  # (2, 26), the second padded


def test_dense_extraction_equals_masked_softmax_of_the_same_qk(batch):
    model = tiny_encoder("dense")
    probs = attention_probs(model, batch)  # (B, N, H, L, L)
    assert probs.shape == (2, 2, 2, 26, 26) and probs.dtype == np.float32
    real = batch.attention_mask
    for layer in range(2):
        q, k, v = captured_qk(model, batch, layer)
        _, expected = masked_softmax_attention(q, k, v, real[:, None, None, :])
        expected = expected * real[:, None, :, None]  # padded queries: zero rows
        np.testing.assert_allclose(probs[:, layer], expected.numpy(), atol=1e-6)


def test_bigbird_extraction_equals_the_dense_reference_on_its_block_mask(batch):
    model = tiny_encoder("bigbird")
    probs = attention_probs(model, batch)
    lengths = batch.attention_mask.sum(1).tolist()  # 26 and 16 tokens: 7 and 4 blocks of 4
    for layer in range(2):
        kind = model.blocks[layer].attention.attention
        q, k, v = captured_qk(model, batch, layer)
        for b, n in enumerate(lengths):
            blocks = kind.block_mask(-(-n // 4))  # (H, nb, nb)
            allowed = blocks.repeat_interleave(4, 1).repeat_interleave(4, 2)[:, :n, :n]  # (H, n, n) tokens
            _, expected = masked_softmax_attention(q[b:b + 1, :, :n], k[b:b + 1, :, :n], v[b:b + 1, :, :n],
                                                   allowed[None])
            np.testing.assert_allclose(probs[b, layer, :, :n, :n], expected[0].numpy(), atol=1e-6)
            assert not probs[b, layer, :, n:].any() and not probs[b, layer, :, :, n:].any()
        assert (probs[0, layer] == 0).any()  # the sparse pattern leaves holes at 26 tokens


@pytest.mark.parametrize("kind", ["performer-softmax", "performer-relu"])
def test_performer_extraction_is_phi_q_phi_k_normalised(kind, batch):
    model = tiny_encoder(kind)
    probs = attention_probs(model, batch)
    real = batch.attention_mask[:, None, :, None]
    for layer in range(2):
        module = model.blocks[layer].attention.attention
        q, k, _ = captured_qk(model, batch, layer)
        weight, eps = module.scaled_projection(torch.float32), module.config.kernel_eps
        phi_q = feature_map(q, weight, module.kernel, eps)
        phi_k = feature_map(k, weight, module.kernel, eps, real, is_query=False)
        scores = phi_q @ phi_k.transpose(-1, -2)  # (B, H, L, L)
        expected = scores / scores.sum(-1, keepdim=True) * real
        np.testing.assert_allclose(probs[:, layer], expected.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_rows_sum_to_one_over_real_tokens_and_padding_is_zero(kind, batch):
    probs = attention_probs(tiny_encoder(kind), batch)
    real = padding_mask([26, 16], 26).numpy()
    sums = probs.sum(-1)  # (B, N, H, L)
    np.testing.assert_allclose(sums[0], 1.0, atol=1e-5)
    np.testing.assert_allclose(sums[1][..., :16], 1.0, atol=1e-5)
    assert not probs[1][..., 16:, :].any() and not probs[1][..., :, 16:].any()
    assert (probs >= 0).all() and real.shape == (2, 26)


def test_masked_lm_and_classifier_give_their_encoders_maps(batch):
    encoder = tiny_encoder("dense")
    mlm = MaskedLM(MaskedLMConfig(encoder.config), tokenizer=encoder.tokenizer).eval()
    mlm.encoder.load_state_dict(encoder.state_dict())
    classifier = SequenceClassifier(ClassifierConfig(encoder.config, ("yes",)), tokenizer=encoder.tokenizer).eval()
    classifier.encoder.load_state_dict(encoder.state_dict())
    expected = attention_probs(encoder, batch)
    np.testing.assert_array_equal(attention_probs(mlm, batch), expected)
    np.testing.assert_array_equal(attention_probs(classifier, batch), expected)


def test_kinds_without_maps_and_too_long_inputs_are_input_errors():
    with pytest.raises(InputError, match="nystromformer.* has no attention matrix.*dense"):
        check_extractable(tiny_encoder("nystromformer"))
    model = tiny_encoder("dense")
    assert extraction_limit(model) == 64  # the model's max_length
    with pytest.raises(InputError, match="65 tokens is longer than the attention-extraction limit of 64"):
        sequence_attention(model, "A" * 63, "long")
    capped = tiny_encoder("bigbird", max_length=4096, attention_options={"block_size": 4, "max_weights_length": 32})
    assert extraction_limit(capped) == 32


def test_letter_weights_of_overlapping_kmers_by_hand():
    tok = KmerTokenizer(k=3, stride=1)
    spans = tok.token_spans(5)  # [CLS] ACG CGT GTA [SEP] over ACGTA
    queries, keys = letter_weights(spans, 5)
    third, half = 1 / 3, 1 / 2
    np.testing.assert_allclose(queries, [[0, 1, 0, 0, 0], [0, half, half, 0, 0], [0, third, third, third, 0],
                                         [0, 0, half, half, 0], [0, 0, 0, 1, 0]])
    np.testing.assert_allclose(keys, [[0, third, 0, 0, 0], [0, third, third, 0, 0], [0, third, third, third, 0],
                                      [0, 0, third, third, 0], [0, 0, 0, third, 0]])
    probs = np.zeros((5, 5))
    probs[1, 3] = 0.6  # ACG -> GTA
    probs[2, 1] = 0.3  # CGT -> ACG
    probs[1, 0] = 0.4  # ACG -> [CLS]: no letter
    letters = letter_attention(probs, spans, 5)
    # query letter 1 (A C G: covered by ACG and CGT) to key letter 2 (covered by ACG, CGT, GTA):
    # (ACG->GTA 0.6/3 + CGT->ACG 0.3/3) / 2
    assert letters[1, 2] == pytest.approx((0.6 / 3 + 0.3 / 3) / 2)
    assert letters[0, 4] == pytest.approx(0.6 / 3)  # only ACG covers letter 0; only GTA letter 4
    assert letters[0].sum() == pytest.approx(0.6)  # ACG's attention to letters (not [CLS])


def test_letter_weights_of_non_overlapping_kmers_and_residues():
    spans = KmerTokenizer(k=3, stride=3).token_spans(7)  # ACG TAC [UNK](1 base)
    queries, keys = letter_weights(spans, 7)
    np.testing.assert_allclose(keys[:, 1:4].sum(0), 1.0)
    assert keys[6, 3] == 1.0 and keys[0, 1] == pytest.approx(1 / 3)
    np.testing.assert_allclose(queries.sum(1), 1.0)
    probs = np.random.default_rng(0).random((2, 3, 6, 6))
    spans = ProteinTokenizer().token_spans(4)
    np.testing.assert_allclose(letter_attention(probs, spans, 4), probs[..., 1:-1, 1:-1], rtol=1e-6)


def test_sequence_attention_on_dna_kmers_and_its_tables():
    tok = KmerTokenizer(k=3, stride=1)
    model = tiny_encoder("bigbird", tokenizer=tok)
    maps = sequence_attention(model, "acgtnacgta", "w")
    assert maps.seq == "ACGTNACGTA" and maps.tokens[:3] == ("[CLS]", "ACG", "CGT") and maps.tokens[4] == "[UNK]"
    assert maps.probs.shape == (2, 2, 10, 10) and maps.letters().shape == (2, 2, 10, 10)
    np.testing.assert_array_equal(maps.spans[1], [0, 3])
    frame = attention_frame(maps, letters=False, min_weight=0.05)
    assert set(frame.columns) == {"layer", "head", "query", "key", "query_label", "key_label", "weight"}
    assert len(frame) and (frame.weight > 0.05).all()
    row = frame.iloc[0]
    assert maps.probs[row["layer"], row["head"], row["query"], row["key"]] == row["weight"]
    assert row["key_label"] == maps.tokens[row["key"]]


def test_head_statistics_of_hand_made_maps():
    probs = np.zeros((1, 2, 4, 4), dtype=np.float32)
    probs[0, 0] = np.eye(4)  # head 0: each token on itself
    probs[0, 1, :, 0] = 1.0  # head 1: everything on [CLS]
    spans = ProteinTokenizer().token_spans(2)
    maps = AttentionMaps("x", "AC", ("[CLS]", "A", "C", "[SEP]"), spans, probs, "dense")
    stats = head_statistics(maps)
    assert stats.loc[0, "entropy"] == 0 and stats.loc[0, "distance"] == 0 and stats.loc[0, "density"] == 0.25
    assert stats.loc[1, "special"] == 1.0 and stats.loc[1, "distance"] == pytest.approx((0 + 1 + 2 + 3) / 4)
    assert stats.loc[0, "special"] == pytest.approx(0.5)  # [CLS] and [SEP] attend to themselves


def test_plots_return_figures_without_side_effects(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    monkeypatch.chdir(tmp_path)
    before = plt.get_fignums()
    maps = sequence_attention(tiny_encoder("dense"), PROTEINS[0], "p")
    fig = plot_heads(maps, 1)
    assert isinstance(fig, Figure) and len([ax for ax in fig.axes if ax.images]) == 2
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["M1", "R10", "S20"]  # residue letters, numbered every 10
    assert isinstance(plot_layers(maps, 0), Figure)
    assert plt.get_fignums() == before and not list(tmp_path.iterdir())
    ticks, names = position_labels(list("ACGT" * 50))
    assert len(names) <= 64 and names[1] == "4:A" and ticks[0] == 0.5


@pytest.fixture(scope="module")
def protein_model(tmp_path_factory):
    """A tiny protein masked LM folder whose attention-extraction limit is 64 tokens (62 residues)."""
    folder = tmp_path_factory.mktemp("maps_models") / "tiny_protein"
    encoder = tiny_encoder("dense")
    MaskedLM(MaskedLMConfig(encoder.config), tokenizer=encoder.tokenizer).save_pretrained(folder)
    return folder


def run_maps(*args):
    from helpers import runner

    from seqformer.cli import app

    return runner.invoke(app, ["attention", "maps", *map(str, args), "--device", "cpu"])


def test_maps_cli_skips_records_over_the_limit_and_counts_them(protein_model, tmp_path):
    import json

    fasta = tmp_path / "mixed.fa"
    fasta.write_text(f">short1\n{PROTEINS[0]}\n>too_long\n{'MKV' * 30}\n>short2\n{PROTEINS[1]}\n>short3\nMKVL\n")
    out = tmp_path / "maps"
    result = run_maps("--model", protein_model, "--fasta", fasta, "--max-seqs", 2, "--out", out)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    warnings = result.stderr.strip().splitlines()
    assert warnings == [f"warning: skipped 1 record longer than the attention-extraction limit of 64 tokens "
                        f"(named in {out / 'summary.json'})"]
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["heads.tsv", "summary.json"] + [f"{stem}.{ext}" for stem in ("short1", "short2")
                                                            for ext in ("npz", "layer0.png", "layer0.svg",
                                                                        "layer1.png", "layer1.svg")])
    assert printed["skipped"] == 1 and len(printed["files"]) == len(names)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped_too_long"] == [{"name": "too_long", "tokens": 92}] and summary["limit_tokens"] == 64
    assert [s["name"] for s in summary["sequences"]] == ["short1", "short2"] and summary["model"] == "tiny_protein"
    assert sorted(summary["files"]) == names and summary["scale"] == "per head"
    assert (out / "short1.layer0.svg").read_text().lstrip().startswith("<?xml")


def test_maps_cli_with_every_record_too_long_is_one_line_exit_2(protein_model, tmp_path):
    from helpers import cli_error

    fasta = tmp_path / "long.fa"
    fasta.write_text(f">a\n{'MKV' * 30}\n>b\n{'MKV' * 40}\n")
    line = cli_error("attention", "maps", "--model", protein_model, "--fasta", fasta, "--out", tmp_path / "o",
                     "--device", "cpu")
    assert "all 2 records are longer than the attention-extraction limit of 64 tokens (the shortest has 92)" in line
    assert not (tmp_path / "o").exists()
    line = cli_error("attention", "maps", "--model", protein_model, "--fasta", fasta, "--record", "b", "--out",
                     tmp_path / "o", "--device", "cpu")
    assert "record 'b'" in line and "122 tokens is longer than the attention-extraction limit of 64" in line
    line = cli_error("attention", "maps", "--model", protein_model, "--fasta", fasta, "--tss", 5, "--out",
                     tmp_path / "o", "--device", "cpu")
    assert "--tss is a position on the --region's contig" in line


def test_maps_cli_on_a_region_with_a_tss_and_shared_scale(tmp_path, data_dir):
    import json

    folder = tmp_path / "dna_model"
    dna = tiny_encoder("bigbird", tokenizer=KmerTokenizer(k=3, stride=1), max_length=128)
    MaskedLM(MaskedLMConfig(dna.config), tokenizer=dna.tokenizer).save_pretrained(folder)
    genome = data_dir / "promoters" / "genome.fa"
    out = tmp_path / "maps"
    result = run_maps("--model", folder, "--genome", genome, "--region", "chr20:101-160", "--tss", 150,
                      "--shared-scale", "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tss_offset"] == 49 and summary["skipped"] == 0 and summary["scale"].startswith("shared")
    assert (out / "chr20_101-160.layer1.png").read_bytes()[:4] == b"\x89PNG"
    for position in (100, 161):
        result = run_maps("--model", folder, "--genome", genome, "--region", "chr20:101-160", "--tss", position,
                          "--out", tmp_path / "bad")
        assert result.exit_code == 2 and "outside the region chr20:101-160" in result.stderr
