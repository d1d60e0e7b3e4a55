"""``seqformer bench converted`` and ``convert --attention``: the same weights under other kinds."""

from __future__ import annotations

import torch
from typer.testing import CliRunner

from seqformer.bench.converted import export_esm, long_rows, mask_rows, measure_drift, run_speed
from seqformer.cli import app
from seqformer.convert import convert_checkpoint
from seqformer.io.fasta import FastaRecord, write_fasta
from seqformer.models import EncoderConfig, MaskedLM, load_model
from seqformer.models.mlm import MaskedLMConfig
from seqformer.tokenizers import ProteinTokenizer

PROTEINS = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMF", "GSHMSLFDFFKNKGSAA"]


def _protein_mlm(seed: int = 0) -> MaskedLM:
    torch.manual_seed(seed)
    tokenizer = ProteinTokenizer()
    encoder = EncoderConfig.for_tokenizer(tokenizer, hidden_size=32, num_layers=2, num_heads=4, ffn_size=64,
                                          max_length=64)
    model = MaskedLM(MaskedLMConfig(encoder), tokenizer=tokenizer)
    with torch.no_grad():  # off the init, so LayerNorms and biases matter
        for param in model.parameters():
            param.add_(0.1 * torch.randn(param.shape))
    return model.eval()


def test_export_esm_then_convert_gives_the_model_back(tmp_path):
    model = _protein_mlm()
    back = convert_checkpoint(export_esm(model, tmp_path / "hf"))
    assert back.tokenizer.encode("MKT").tolist()[0] == back.tokenizer.cls_id == 0  # ESM ids: <cls> is 0
    for text in PROTEINS:
        ours, theirs = model.tokenizer.encode(text), back.tokenizer.encode(text)
        with torch.no_grad():
            a = model(torch.as_tensor(ours[None]).long(), output_hidden_states=True)
            b = back(torch.as_tensor(theirs[None]).long(), output_hidden_states=True)
        for x, y in zip(a.hidden_states, b.hidden_states):
            assert torch.allclose(x, y, atol=1e-5)
        letters = [t for t in model.tokenizer.vocab if len(t) == 1]
        rows_a = [model.tokenizer.token_to_id(t) for t in letters]
        rows_b = [back.tokenizer.token_to_id(t) for t in letters]
        assert torch.allclose(a.logits[..., rows_a], b.logits[..., rows_b], atol=1e-5)


def test_long_rows_join_records_with_their_framing_and_masks_skip_specials():
    tokenizer = ProteinTokenizer()
    ids = long_rows(tokenizer, PROTEINS, 20, 3)
    joined = [int(i) for text in PROTEINS for i in tokenizer.encode(text)][:60]
    assert ids.flatten().tolist() == joined
    masked, where = mask_rows(tokenizer, ids, seed=0)
    assert where.any() and not where[~tokenizer.is_body(ids)].any()
    assert (masked[where] == tokenizer.mask_id).all() and torch.equal(masked[~where], ids[~where])
    again, where_again = mask_rows(tokenizer, ids, seed=0)
    assert torch.equal(where, where_again)


def test_drift_is_zero_for_dense_and_for_a_window_covering_every_row():
    model = _protein_mlm()
    rows = measure_drift(model, PROTEINS * 4, [48], ["dense", "longformer", "performer-relu"], rows=2,
                         options={"longformer": {"window": 48, "global_tokens": []}})
    by_kind = {row.kind: row for row in rows}
    assert by_kind["dense"].logit_rel_error == 0.0
    assert by_kind["longformer"].logit_rel_error < 1e-5
    assert abs(by_kind["longformer"].perplexity - by_kind["dense"].perplexity) < 1e-3
    assert by_kind["performer-relu"].logit_rel_error > 1e-3  # an approximation drifts
    assert len({row.masked_tokens for row in rows}) == 1 and rows[0].masked_tokens > 0


def test_speed_workers_time_seqformer_kinds_and_the_transformers_source(tmp_path):
    model = _protein_mlm()
    model.save_pretrained(tmp_path / "m")
    source = export_esm(model, tmp_path / "hf")
    rows = run_speed(tmp_path / "m", source, [32], ["dense", "bigbird"], repeats=1, threads=1, timeout=300)
    assert [row.impl for row in rows] == ["seqformer:dense", "seqformer:bigbird", "transformers"]
    assert all(row.status == "ok" and row.seconds > 0 and row.peak_mb > 0 for row in rows), rows
    assert rows[-1].detail.startswith("attn_implementation=")


def test_cli_bench_converted_and_convert_with_another_kind(tmp_path):
    model = _protein_mlm()
    source = export_esm(model, tmp_path / "hf")
    runner = CliRunner()
    done = runner.invoke(app, ["convert", str(source), "--out", str(tmp_path / "bb"), "--attention", "bigbird",
                               "--attention-option", "block_size=16", "--attention-option", "num_random_blocks=1",
                               "--max-length", "2048"])
    assert done.exit_code == 0, done.output
    assert "bigbird attention up to 2,048 tokens" in done.output
    long = load_model(tmp_path / "bb")
    assert long.config.encoder.attention_options["block_size"] == 16
    write_fasta([FastaRecord(f"p{i}", "", text) for i, text in enumerate(PROTEINS * 4)], tmp_path / "p.fa")
    done = runner.invoke(app, ["bench", "converted", "--model", str(tmp_path / "bb"), "--fasta", str(tmp_path / "p.fa"),
                               "--lengths", "64", "--rows", "2", "--speed-lengths", "", "--kinds", "dense,bigbird",
                               "--json", str(tmp_path / "b.json")])
    assert done.exit_code == 0, done.output
    assert "| bigbird | 64 | 2 |" in done.output and (tmp_path / "b.json").is_file()
    bad = runner.invoke(app, ["convert", str(source), "--out", str(tmp_path / "x"), "--attention", "reformer-lsh"])
    assert bad.exit_code == 2 and "shares queries and keys" in bad.output and not (tmp_path / "x").exists()
    bad = runner.invoke(app, ["convert", str(source), "--out", str(tmp_path / "x"), "--attention-option", "oops"])
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output


def test_a_kind_that_cannot_run_at_a_length_is_one_line():
    import pytest

    from seqformer.errors import InputError

    with pytest.raises(InputError, match="longformer at L=64: .*not shorter than max_length 64"):
        measure_drift(_protein_mlm(), PROTEINS * 4, [64], ["longformer"], rows=1, options={"longformer": {"window": 64}})
