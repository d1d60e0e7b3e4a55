"""``seqformer embed``: per-token and mean representations equal a forward pass of each record alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from seqformer.errors import InputError
from seqformer.models import EncoderConfig, MaskedLM, MaskedLMConfig
from seqformer.predict.embed import (check_new_embed_folder, embed_fasta, length_batches, parse_layers,
                                     read_records, resolve_layers)
from seqformer.tokenizers import KmerTokenizer, ProteinTokenizer
from helpers import cli_error, cli_ok

MAX_LENGTH = 32
PROTEINS = {"short": "MKTAYIAK", "long": "GAVLIPFWMCSTNQDEKRHY", "mid": "ACDEFGHIKLMN"}  # 8, 20, 12 residues
DNA = {"short": "ACGTACGTAC", "long": "TTGACCATGCAAGTCCGATTAGC", "mid": "GGCATCGATCGAT"}  # 10, 23, 13 bases


def tiny_mlm(tokenizer) -> MaskedLM:
    encoder = EncoderConfig.for_tokenizer(tokenizer, hidden_size=32, num_layers=2, num_heads=2, ffn_size=64,
                                          max_length=MAX_LENGTH)
    torch.manual_seed(0)
    model = MaskedLM(MaskedLMConfig(encoder), tokenizer=tokenizer).eval()
    with torch.no_grad():  # a non-trivial final LayerNorm, so "after the final norm" is visible
        model.encoder.norm.weight.uniform_(0.5, 1.5)
        model.encoder.norm.bias.uniform_(-0.5, 0.5)
    return model


def write_fasta(path, records: dict[str, str]):
    path.write_text("".join(f">{name} some description\n{seq}\n" for name, seq in records.items()))
    return path


@torch.no_grad()
def alone(model: MaskedLM, seq: str, **fit):
    """(hidden_states, last_hidden_state, logits) of one record run by itself, body tokens only."""
    inputs = model.tokenizer.batch_encode([seq], max_length=MAX_LENGTH, **fit)
    assert bool(inputs.attention_mask.all())
    out = model(inputs.input_ids, inputs.attention_mask, output_hidden_states=True)
    last = model.encoder(inputs.input_ids, inputs.attention_mask).last_hidden_state
    return [h[0, 1:-1].numpy() for h in out.hidden_states], last[0, 1:-1].numpy(), out.logits[0, 1:-1].numpy()


CASES = [(ProteinTokenizer(), PROTEINS), (KmerTokenizer(3, 1), DNA), (KmerTokenizer(3, 3), DNA)]


@pytest.mark.parametrize("tokenizer, records", CASES, ids=["protein", "kmer3", "kmer3-stride3"])
def test_per_token_and_means_equal_each_record_alone(tmp_path, tokenizer, records):
    model = tiny_mlm(tokenizer)
    fasta = write_fasta(tmp_path / "in.fa", records)
    summary = embed_fasta(model, fasta, tmp_path / "out", layers=(0, 1, -1), batch_size=2, logits=True)

    assert summary.layers == (0, 1, 2) and summary.records == 3 and summary.truncated == 0
    assert summary.files == ("per_token.npz", "mean.parquet", "mean.npz", "logits.npz")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(summary.files)
    per_token = np.load(tmp_path / "out" / "per_token.npz")
    logits = np.load(tmp_path / "out" / "logits.npz")
    mean = np.load(tmp_path / "out" / "mean.npz")
    assert sorted(per_token.files) == sorted(f"{name}/{key}" for name in records
                                             for key in ("layer0", "layer1", "layer2", "spans"))
    assert list(mean["names"]) == list(records)  # FASTA order
    tokens = 0
    for i, (name, seq) in enumerate(records.items()):
        hidden, last, expected_logits = alone(model, seq)
        # batched with a longer record (right padding): the same values as the record alone
        for layer, expected in ((0, hidden[0]), (1, hidden[1]), (2, last)):
            got = per_token[f"{name}/layer{layer}"]
            assert got.dtype == np.float32 and got.shape == (len(expected), 32)
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(mean[f"layer{layer}"][i], got.mean(axis=0))
        assert not np.allclose(per_token[f"{name}/layer2"], hidden[2], atol=1e-3)  # layer 2 is after the final norm
        np.testing.assert_array_equal(per_token[f"{name}/spans"], tokenizer.token_spans(len(seq))[1:-1])
        np.testing.assert_allclose(logits[name], expected_logits, rtol=1e-5, atol=1e-5)
        assert logits[name].shape == (len(last), tokenizer.vocab_size)
        tokens += len(last)
    assert summary.tokens == tokens and summary.letters == sum(map(len, records.values()))

    table = pd.read_parquet(tmp_path / "out" / "mean.parquet")
    assert pq.ParquetFile(tmp_path / "out" / "mean.parquet").num_row_groups == 2  # one per batch
    assert list(table.columns) == ["record", "length", "n_tokens", "layer0", "layer1", "layer2"]
    assert list(table.record) == ["long", "mid", "short"]  # run longest first
    for _, row in table.iterrows():
        i = list(records).index(row.record)
        assert row.length == len(records[row.record])
        assert row.n_tokens == len(per_token[f"{row.record}/spans"])
        for layer in (0, 1, 2):
            np.testing.assert_array_equal(np.asarray(row[f"layer{layer}"], dtype=np.float32),
                                          mean[f"layer{layer}"][i])


def test_default_layer_is_the_last_after_the_final_norm_and_batches_do_not_matter(tmp_path):
    model = tiny_mlm(ProteinTokenizer())
    fasta = write_fasta(tmp_path / "in.fa", PROTEINS)
    one = embed_fasta(model, fasta, tmp_path / "one", batch_size=1, per_token=False)
    three = embed_fasta(model, fasta, tmp_path / "three", batch_size=3)
    assert one.layers == three.layers == (2,) and one.files == ("mean.parquet", "mean.npz")
    assert not (tmp_path / "one" / "per_token.npz").exists()
    _, last, _ = alone(model, PROTEINS["mid"])
    np.testing.assert_allclose(np.load(tmp_path / "three" / "per_token.npz")["mid/layer2"], last,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "one" / "mean.npz")["layer2"],
                               np.load(tmp_path / "three" / "mean.npz")["layer2"], rtol=1e-5, atol=1e-6)


def test_a_bare_encoder_and_a_layer_without_final_norm(tmp_path):
    model = tiny_mlm(ProteinTokenizer())
    encoder = model.encoder
    object.__setattr__(encoder.config, "final_norm", False)  # a config field another change may add
    fasta = write_fasta(tmp_path / "in.fa", PROTEINS)
    embed_fasta(encoder, fasta, tmp_path / "out", layers=(-1,))
    hidden, _, _ = alone(model, PROTEINS["long"])
    np.testing.assert_allclose(np.load(tmp_path / "out" / "per_token.npz")["long/layer2"], hidden[2],
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="--logits needs a masked language model"):
        embed_fasta(encoder, fasta, tmp_path / "again", logits=True)


def test_layer_indexes():
    assert resolve_layers((0, -1, 2, -3, 1), 2) == (0, 2, 1)
    assert parse_layers("0,-1") == (0, -1)
    with pytest.raises(InputError, match="layer 3 does not exist.*0 \\(embeddings\\) to 2"):
        resolve_layers((3,), 2)
    with pytest.raises(InputError, match="layer -4 does not exist"):
        resolve_layers((-4,), 2)
    with pytest.raises(InputError, match="comma-separated list of integers"):
        parse_layers("last")


def test_batches_by_length_and_token_cap(tmp_path):
    tokenizer = ProteinTokenizer()
    fasta = write_fasta(tmp_path / "in.fa", {"a": "M" * 4, "b": "M" * 10, "c": "M" * 8, "d": "M" * 10})
    records = read_records(fasta, tokenizer, MAX_LENGTH)
    assert [(r.name, r.tokens) for r in records] == [("a", 6), ("b", 12), ("c", 10), ("d", 12)]
    names = [[r.name for r in batch] for batch in length_batches(records, 8, max_tokens=24)]
    assert names == [["b", "d"], ["c", "a"]]  # 2 x 12 and 2 x 10 tokens
    assert [[r.name for r in batch] for batch in length_batches(records, 3)] == [["b", "d", "c"], ["a"]]
    assert [len(batch) for batch in length_batches(records, 8, max_tokens=5)] == [1, 1, 1, 1]


TOO_LONG = [(ProteinTokenizer(), "ACDEFGHIKL" * 4, 42), (KmerTokenizer(3, 1), "ACGTTGCAAG" * 4, 40),
            (KmerTokenizer(3, 3), "ACGTTGCAAG" * 10, 36)]


@pytest.mark.parametrize("tokenizer, seq, tokens", TOO_LONG, ids=["protein", "kmer3", "kmer3-stride3"])
def test_too_long_records_are_refused_or_truncated(tmp_path, tokenizer, seq, tokens):
    model = tiny_mlm(tokenizer)
    records = {"short": seq[:12], "huge": seq}
    fasta = write_fasta(tmp_path / "in.fa", records)
    with pytest.raises(InputError) as err:
        embed_fasta(model, fasta, tmp_path / "out")
    assert str(err.value) == (f"{fasta}, record 'huge': encodes to {tokens} tokens, more than the model's "
                              f"max_length of 32; pass --truncate to keep the first 32 tokens")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fa"]

    summary = embed_fasta(model, fasta, tmp_path / "out", layers=(0, -1), truncate=True)
    assert summary.truncated == 1 and "1 record truncated to 32 tokens" in summary.message
    hidden, last, _ = alone(model, seq, truncation=True)  # the tokenizer's own truncation: first 30 + [SEP]
    per_token = np.load(tmp_path / "out" / "per_token.npz")
    assert per_token["huge/layer2"].shape == (30, 32)
    np.testing.assert_allclose(per_token["huge/layer0"], hidden[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(per_token["huge/layer2"], last, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(per_token["huge/spans"], tokenizer.token_spans(len(seq))[1:31])
    table = pd.read_parquet(tmp_path / "out" / "mean.parquet")
    assert table.set_index("record").loc["huge", ["length", "n_tokens"]].tolist() == [len(seq), 30]


def test_nothing_is_left_behind_when_a_run_fails(tmp_path):
    model = tiny_mlm(ProteinTokenizer())
    fasta = write_fasta(tmp_path / "in.fa", PROTEINS)

    def fail(records_done, tokens_done):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        embed_fasta(model, fasta, tmp_path / "out", batch_size=1, on_batch=fail)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fa"]


def test_the_alphabet_comes_from_the_model(tmp_path):
    fasta = write_fasta(tmp_path / "in.fa", DNA)
    with pytest.raises(InputError) as err:
        embed_fasta(tiny_mlm(ProteinTokenizer()), fasta, tmp_path / "out")
    assert str(err.value) == (f"{fasta}: looks like DNA, not protein (100% of the first 10 letters are A, C, G, T "
                              "or N); this model's protein tokenizer reads protein")


def test_an_output_folder_of_other_files_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    check_new_embed_folder(tmp_path / "out")  # empty: fine
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="exists and holds other files"):
        check_new_embed_folder(tmp_path / "out")


def test_cli_writes_the_folder_and_refuses_duplicate_names(tmp_path):
    model = tiny_mlm(ProteinTokenizer())
    model.save_pretrained(tmp_path / "model")
    fasta = write_fasta(tmp_path / "in.fa", PROTEINS)
    line = cli_ok("embed", "--model", tmp_path / "model", "--fasta", fasta, "--out", tmp_path / "out",
                  "--layers", "0,-1", "--logits", "--batch-size", "2", "--device", "cpu", "--quiet")
    assert line.strip().startswith("3 records (40 letters, 40 tokens) embedded at layers 0, 2 (D = 32)")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["logits.npz", "mean.npz", "mean.parquet",
                                                                     "per_token.npz"]
    _, last, _ = alone(model, PROTEINS["short"])
    np.testing.assert_allclose(np.load(tmp_path / "out" / "per_token.npz")["short/layer2"], last,
                               rtol=1e-5, atol=1e-6)

    duplicated = tmp_path / "dup.fa"
    duplicated.write_text(">a\nMKT\n>b\nGAV\n>a\nLIP\n")
    error = cli_error("embed", "--model", tmp_path / "model", "--fasta", duplicated, "--out", tmp_path / "dup",
                      "--device", "cpu", "--quiet")
    assert error == (f"error: {duplicated}, record 'a': duplicate record name: record 3 has the name of record 1; "
                     "names key the outputs and must be unique")
    assert not (tmp_path / "dup").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dup.fa", "in.fa", "model", "out"]
    error = cli_error("embed", "--model", tmp_path / "model", "--fasta", fasta, "--out", tmp_path / "x",
                      "--layers", "0,5", "--quiet")
    assert error.startswith("error: layer 5 does not exist")
    encoder_only = tmp_path / "encoder"
    model.encoder.save_pretrained(encoder_only)
    error = cli_error("embed", "--model", encoder_only, "--fasta", fasta, "--out", tmp_path / "x", "--logits",
                      "--quiet")
    assert error == "error: --logits needs a masked language model; this is a SeqEncoder"
