"""``seqformer convert``: exact import of HF ESM / BERT / BigBird and fair-esm checkpoints; the encoder's new fields.

Every source is a tiny random model (hidden 32, 2 layers) built here with transformers or fair-esm,
its parameters perturbed so LayerNorms and biases are not at their init, and saved to tmp_path.
Logits and every hidden state must match within 1e-4 (fp32) at the real positions of a padded batch.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from seqformer.cli import app
from seqformer.convert import ESM_ALPHABET, classify_vocabulary, convert_checkpoint, convert_to_folder, read_checkpoint
from seqformer.errors import InputError
from seqformer.models import EncoderConfig, MaskedLM, SeqEncoder, SequenceClassifier, load_model
from seqformer.models.encoder import token_dropout_scale

transformers = pytest.importorskip("transformers")
esm = pytest.importorskip("esm")

TOL = dict(rtol=0, atol=1e-4)
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
KMERS3 = ["".join(p) for p in itertools.product("ACGT", repeat=3)]
NT_VOCAB = ["<unk>", "<pad>", "<mask>", "<cls>", *("".join(p) for p in itertools.product("ATCG", repeat=2)),
            "A", "T", "C", "G", "N"]  # NT v1's layout with 2-mers: 4 specials + 16 + 5 singles


def _perturb(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Move every parameter off its init (LayerNorm weights 1, biases 0), deterministically; eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.2 * torch.randn(param.shape, generator=generator))
    return model.eval()


def _save_hf(model, folder: Path, vocab: list[str] | tuple[str, ...], **save) -> Path:
    model.save_pretrained(folder, **save)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return folder


def _esm_folder(tmp_path: Path, *, rotary: bool = True, token_dropout: bool = True, vocab=ESM_ALPHABET,
                tie: bool = True, name: str = "esm", save: dict | None = None, **options
                ) -> tuple[Path, torch.nn.Module]:
    config = transformers.EsmConfig(vocab_size=len(vocab), pad_token_id=vocab.index("<pad>"), **options,
                                    mask_token_id=vocab.index("<mask>"), token_dropout=token_dropout,
                                    position_embedding_type="rotary" if rotary else "absolute",
                                    max_position_embeddings=40, layer_norm_eps=1e-5, tie_word_embeddings=tie, **TINY)
    torch.manual_seed(0)
    model = _perturb(transformers.EsmForMaskedLM(config))
    return _save_hf(model, tmp_path / name, vocab, **(save or {})), model


def _bert_folder(tmp_path: Path, *, big_bird: bool = False, name: str = "bert", **options
                 ) -> tuple[Path, torch.nn.Module]:
    vocab = BERT_SPECIALS + KMERS3
    cls = (transformers.BigBirdConfig, transformers.BigBirdForMaskedLM) if big_bird else \
        (transformers.BertConfig, transformers.BertForMaskedLM)
    torch.manual_seed(0)
    model = _perturb(cls[1](cls[0](vocab_size=len(vocab), max_position_embeddings=40, **TINY, **options)))
    return _save_hf(model, tmp_path / name, vocab), model


def _assert_matches(reference, model: MaskedLM, ids: torch.Tensor, mask: torch.Tensor) -> None:
    """HF's logits and hidden states equal ours at real positions (HF's last one is after the final LayerNorm)."""
    with torch.no_grad():
        theirs = reference(input_ids=ids, attention_mask=mask.long(), output_hidden_states=True)
        ours = model(ids, mask, output_hidden_states=True)
        encoded = model.encoder(ids, mask, output_hidden_states=True)
    torch.testing.assert_close(ours.logits[mask], theirs.logits[mask], **TOL)
    assert len(theirs.hidden_states) == len(encoded.hidden_states) == 3
    for hf_state, our_state in zip(theirs.hidden_states[:-1], encoded.hidden_states[:-1]):
        torch.testing.assert_close(our_state[mask], hf_state[mask], **TOL)
    torch.testing.assert_close(encoded.last_hidden_state[mask], theirs.hidden_states[-1][mask], **TOL)


# ESM ids: <cls>=0 <pad>=1 <eos>=2 <mask>=32; row 0 is padded and holds a <mask> (token dropout), row 1 has none.
ESM_IDS = torch.tensor([[0, 5, 6, 32, 7, 8, 9, 2, 1, 1], [0, 10, 11, 12, 13, 14, 15, 16, 17, 2]])
# BERT ids: [PAD]=0 [CLS]=2 [SEP]=3 [MASK]=4.
BERT_IDS = torch.tensor([[2, 5, 6, 4, 7, 8, 9, 3, 0, 0], [2, 10, 11, 12, 13, 14, 15, 16, 17, 3]])


# --- the encoder fields ----------------------------------------------------------------------------------


def test_default_config_keeps_the_old_parameters_and_loads_old_dicts():
    config = EncoderConfig(vocab_size=30, hidden_size=32, num_heads=4, ffn_size=64)
    old = {key: value for key, value in config.to_dict().items()
           if key not in ("norm", "final_norm", "embedding_norm", "position_offset", "embedding_scale",
                          "token_dropout", "mask_id", "activation")}
    assert EncoderConfig.from_dict(old) == config
    names = set(SeqEncoder(config).state_dict())
    assert {"embed.weight", "norm.weight", "norm.bias"} <= names
    assert not any(name.startswith(("position_embed", "embed_norm")) for name in names)


@pytest.mark.parametrize("change, message", [
    ({"norm": "post", "reversible": True}, "reversible"),
    ({"norm": "sandwich"}, "norm"),
    ({"token_dropout": True}, "mask_id"),
    ({"mask_id": 30}, "mask_id"),
    ({"activation": "relu"}, "activation"),
    ({"embedding_scale": 0.0}, "embedding_scale"),
    ({"position_offset": -1}, "position_offset"),
])
def test_config_rejects_bad_layout_fields(change, message):
    with pytest.raises(ValueError, match=message):
        EncoderConfig(vocab_size=30, hidden_size=32, num_heads=4, **change)


def test_learned_positions_table_and_no_final_norm():
    config = EncoderConfig(vocab_size=30, hidden_size=32, num_heads=4, ffn_size=64, position="learned",
                           position_offset=2, max_length=10, final_norm=False, embedding_norm=True, norm="post")
    encoder = SeqEncoder(config).eval()
    assert encoder.position_embed.weight.shape == (12, 32) and encoder.norm is None
    ids = torch.randint(5, 30, (1, 10))
    out = encoder(ids, output_hidden_states=True)
    expected = encoder.embed_norm(encoder.embed(ids) + encoder.position_embed.weight[2:12])
    torch.testing.assert_close(out.hidden_states[0], expected)
    torch.testing.assert_close(out.last_hidden_state, out.hidden_states[-1])  # no final LayerNorm
    with pytest.raises(ValueError, match="max_length"):
        encoder(torch.randint(5, 30, (1, 11)))


def test_post_norm_blocks_chunk_the_mlp_to_the_same_values():
    fields = dict(vocab_size=30, hidden_size=32, num_heads=4, ffn_size=64, norm="post", final_norm=False)
    torch.manual_seed(0)
    whole = SeqEncoder(EncoderConfig(**fields)).eval()
    chunked = SeqEncoder(EncoderConfig(**fields, ffn_chunk_size=3)).eval()
    chunked.load_state_dict(whole.state_dict())
    ids = torch.randint(5, 30, (2, 11))
    torch.testing.assert_close(chunked(ids).last_hidden_state, whole(ids).last_hidden_state)


def test_token_dropout_scale_is_esm2s_formula():
    ids = torch.tensor([[0, 32, 5, 2, 1, 1], [0, 5, 6, 7, 8, 2], [0, 32, 32, 2, 1, 1]])
    mask = ids != 1
    expected = torch.tensor([0.88 / (1 - 1 / 4), 0.88, 0.88 / (1 - 2 / 4)])
    torch.testing.assert_close(token_dropout_scale(ids, mask, 32), expected)
    torch.testing.assert_close(token_dropout_scale(ids[1:2], None, 32), torch.tensor([0.88]))
    assert token_dropout_scale(torch.tensor([[32, 32]]), None, 32).tolist() == [1.0]  # all masked: zeros anyway


# --- exact conversion ------------------------------------------------------------------------------------


def test_esm2_rotary_with_token_dropout_matches_hf(tmp_path):
    folder, reference = _esm_folder(tmp_path)
    conversion = read_checkpoint(folder)
    encoder = conversion.config.encoder
    assert conversion.source == "HF EsmForMaskedLM (rotary positions)"
    assert (encoder.position, encoder.token_dropout, encoder.mask_id, encoder.pad_id) == ("rope", True, 32, 1)
    assert (encoder.norm, encoder.final_norm, encoder.embedding_norm, encoder.max_length) == ("pre", True, False, 40)
    assert conversion.config.tie_word_embeddings
    _assert_matches(reference, conversion.model(), ESM_IDS, ESM_IDS != 1)


def test_rotary_rows_are_interleaved_not_copied(tmp_path):
    """Without the q/k row permutation the logits differ: the test above is not passing by accident."""
    folder, reference = _esm_folder(tmp_path)
    model = read_checkpoint(folder).model()
    q = reference.esm.encoder.layer[0].attention.self.query.weight
    qkv = model.encoder.blocks[0].attention.qkv.weight
    torch.testing.assert_close(qkv[:8:2], q[:4], rtol=0, atol=0)  # head 0: new 2i <- old i
    torch.testing.assert_close(qkv[1:8:2], q[4:8], rtol=0, atol=0)  # new 2i+1 <- old i + Dh/2


@pytest.mark.parametrize("token_dropout, norm_before", [(False, False), (True, True)])
def test_nt_v1_absolute_positions_untied_head_match_hf(tmp_path, token_dropout, norm_before):
    """NT v1's layout (learned positions from row 2, untied decoder); with token dropout and ESM-1b's embedding
    LayerNorm too. Saved in shards (model.safetensors.index.json)."""
    folder, reference = _esm_folder(tmp_path, rotary=False, token_dropout=token_dropout, vocab=NT_VOCAB, tie=False,
                                    emb_layer_norm_before=norm_before, save={"max_shard_size": "20KB"})
    assert (folder / "model.safetensors.index.json").is_file() and not (folder / "model.safetensors").exists()
    conversion = read_checkpoint(folder)
    encoder = conversion.config.encoder
    assert conversion.source == "HF EsmForMaskedLM (absolute positions)"
    assert (encoder.position, encoder.position_offset, encoder.max_length) == ("learned", 2, 38)
    assert (encoder.token_dropout, encoder.embedding_norm) == (token_dropout, norm_before)
    assert not conversion.config.tie_word_embeddings and conversion.vocab.kind == "nt"
    ids = torch.tensor([[3, 4, 9, 2, 19, 20, 24, 1, 1], [3, 5, 6, 7, 8, 10, 11, 21, 22]])  # <cls> 2-mers/singles <mask>
    _assert_matches(reference, conversion.model(), ids, ids != 1)


def test_dnabert_from_pytorch_model_bin_matches_hf(tmp_path):
    folder, reference = _bert_folder(tmp_path)
    (folder / "model.safetensors").unlink()
    torch.save(reference.state_dict(), folder / "pytorch_model.bin")
    conversion = read_checkpoint(folder)
    encoder = conversion.config.encoder
    assert conversion.source == "HF BertForMaskedLM" and conversion.vocab.kind == "dnabert"
    assert (encoder.norm, encoder.final_norm, encoder.embedding_norm) == ("post", False, True)
    assert encoder.activation == "gelu"
    assert (encoder.position, encoder.position_offset, encoder.layer_norm_eps) == ("learned", 0, 1e-12)
    _assert_matches(reference, conversion.model(), BERT_IDS, BERT_IDS != 0)


@pytest.mark.parametrize("attention_type, rescale", [("original_full", True), ("original_full", False),
                                                     ("block_sparse", True)])
def test_bigbird_matches_hf(tmp_path, attention_type, rescale):
    """gelu_new (tanh GELU), sqrt(D) rescaling either way; a block_sparse source runs full attention on short inputs."""
    folder, reference = _bert_folder(tmp_path, big_bird=True, attention_type=attention_type,
                                     rescale_embeddings=rescale, hidden_act="gelu_new")
    conversion = read_checkpoint(folder)
    encoder = conversion.config.encoder
    assert encoder.activation == "gelu_tanh" and encoder.attention == "dense"
    assert encoder.embedding_scale == (32**0.5 if rescale else 1.0)
    assert attention_type in conversion.source
    _assert_matches(reference, conversion.model(), BERT_IDS, BERT_IDS != 0)


@pytest.mark.parametrize("prefix, namespace", [("encoder.", True), ("encoder.sentence_encoder.", False)])
def test_fair_esm_file_matches_esm2(tmp_path, prefix, namespace):
    torch.manual_seed(0)
    reference = _perturb(esm.model.esm2.ESM2(num_layers=2, embed_dim=32, attention_heads=4, alphabet="ESM-1b",
                                             token_dropout=True))
    assert tuple(reference.alphabet.all_toks) == ESM_ALPHABET
    fields = dict(encoder_layers=2, encoder_embed_dim=32, encoder_attention_heads=4, token_dropout=True)
    cfg = argparse.Namespace(**fields) if namespace else fields
    state = {prefix + key: value for key, value in reference.state_dict().items()}
    torch.save({"model": state, "cfg": {"model": cfg}}, tmp_path / "esm2_tiny.pt")
    conversion = read_checkpoint(tmp_path / "esm2_tiny.pt")
    model = conversion.model()
    assert conversion.source == "fair-esm ESM-2" and model.config.encoder.ffn_size == 128
    mask = ESM_IDS != 1
    with torch.no_grad():
        theirs = reference(ESM_IDS, repr_layers=[0, 1, 2])
        ours = model(ESM_IDS, mask)
        encoded = model.encoder(ESM_IDS, mask, output_hidden_states=True)
    torch.testing.assert_close(ours.logits[mask], theirs["logits"][mask], **TOL)
    torch.testing.assert_close(encoded.hidden_states[0][mask], theirs["representations"][0][mask], **TOL)
    torch.testing.assert_close(encoded.hidden_states[1][mask], theirs["representations"][1][mask], **TOL)
    torch.testing.assert_close(encoded.last_hidden_state[mask], theirs["representations"][2][mask], **TOL)


# --- the written folder and its tokenizer ----------------------------------------------------------------


def test_esm_folder_round_trip_and_tokenizer_ids_match_esm_tokenizer(tmp_path):
    folder, reference = _esm_folder(tmp_path)
    summary = convert_to_folder(folder, tmp_path / "out")
    assert summary.line() == (f"converted HF EsmForMaskedLM (rotary positions), ESM protein alphabet: 2 layers, "
                              f"width 32, vocab 33, dense attention up to 40 tokens -> {tmp_path / 'out'}")
    model = load_model(tmp_path / "out")
    assert isinstance(model, MaskedLM)
    theirs = transformers.EsmTokenizer(str(folder / "vocab.txt"))
    for seq in ("MKTAYIAKQR", "ACDEFGHIKLMNPQRSTVWYXBZUO"):
        assert model.tokenizer.encode(seq).tolist() == theirs(seq)["input_ids"]
    batch = model.tokenizer.batch_encode(["MKTAYIAKQR", "MKT"])
    assert batch.input_ids[1, -1].item() == 1  # padded with <pad>
    _assert_matches(reference, model, batch.input_ids, batch.attention_mask)


def test_dnabert_tokenizer_ids_match_bert_tokenizer_on_kmers(tmp_path):
    folder, reference = _bert_folder(tmp_path)
    model = convert_checkpoint(folder)
    theirs = transformers.BertTokenizer(str(folder / "vocab.txt"), do_lower_case=False)
    seq = "ACGTTGCANNACGT"
    kmers = " ".join(seq[i:i + 3] for i in range(len(seq) - 2))
    assert model.tokenizer.encode(seq).tolist() == theirs(kmers)["input_ids"]
    ids = torch.as_tensor(model.tokenizer.encode(seq), dtype=torch.long)[None]
    _assert_matches(reference, model, ids, torch.ones_like(ids, dtype=torch.bool))


def test_nt_tokenizer_frames_with_cls_only_and_keeps_leftover_bases(tmp_path):
    folder, _ = _esm_folder(tmp_path, rotary=False, token_dropout=False, vocab=NT_VOCAB)
    model = convert_checkpoint(folder)
    assert model.tokenizer.encode("ATCGA").tolist() == [3, NT_VOCAB.index("AT"), NT_VOCAB.index("CG"),
                                                        NT_VOCAB.index("A")]


def test_converted_model_fine_tunes_one_step(tmp_path):
    folder, _ = _bert_folder(tmp_path)
    convert_to_folder(folder, tmp_path / "out")
    classifier = SequenceClassifier.from_encoder(load_model(tmp_path / "out"), ("promoter",), window=12,
                                                 problem_type="binary")
    classifier.train()
    batch = classifier.tokenizer.batch_encode(["ACGTACGTACGT", "TTTTGGGGCCCC"])
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=1e-3)
    before = classifier.encoder.blocks[0].attention.qkv.weight.detach().clone()
    loss = classifier.loss(classifier(batch.input_ids, batch.attention_mask).logits, torch.tensor([1.0, 0.0]))
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss) and not torch.equal(before, classifier.encoder.blocks[0].attention.qkv.weight)


# --- what does not convert -------------------------------------------------------------------------------


def _edit_config(folder: Path, **changes) -> None:
    path = folder / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _one_line_error(src: Path, match: str) -> InputError:
    with pytest.raises(InputError, match=match) as caught:
        read_checkpoint(src)
    assert "\n" not in str(caught.value)
    return caught.value


@pytest.mark.parametrize("changes, match", [
    ({"model_type": "roberta"}, "model_type 'roberta' is not converted"),
    ({"auto_map": {"AutoModelForMaskedLM": "modeling.Custom"}}, "auto_map"),
    ({"architectures": ["EsmForSequenceClassification"]}, "architectures"),
    ({"position_embedding_type": "relative_key"}, "position_embedding_type"),
    ({"is_decoder": True}, "is_decoder"),
    ({"intermediate_size": 48}, r"intermediate\.dense\.weight has shape \(64, 32\), but config.json needs \(48, 32\)"),
    ({"vocab_size": 34}, "the vocabulary has 33 tokens, config.json vocab_size is 34"),
])
def test_unsupported_esm_configs_are_one_line_errors(tmp_path, changes, match):
    folder, _ = _esm_folder(tmp_path)
    _edit_config(folder, **changes)
    _one_line_error(folder, match)


def test_bert_relative_positions_and_other_activations_are_refused(tmp_path):
    folder, _ = _bert_folder(tmp_path)
    _edit_config(folder, position_embedding_type="relative_key")
    error = _one_line_error(folder, "relative_key")
    assert error.path == str(folder / "config.json")
    _edit_config(folder, position_embedding_type="absolute", hidden_act="relu")
    _one_line_error(folder, "hidden_act 'relu'")


def test_truncated_weights_are_one_line_errors(tmp_path):
    folder, reference = _esm_folder(tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    _one_line_error(folder, "truncated safetensors")
    weights.unlink()
    torch.save(reference.state_dict(), folder / "pytorch_model.bin")
    data = (folder / "pytorch_model.bin").read_bytes()
    (folder / "pytorch_model.bin").write_bytes(data[: len(data) // 2])
    _one_line_error(folder, "truncated torch file")


def test_missing_and_unknown_weight_keys_are_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    folder, _ = _esm_folder(tmp_path)
    weights = folder / "model.safetensors"
    state = load_file(str(weights))
    save_file({**state, "esm.encoder.layer.0.crossattention.output.dense.weight": torch.zeros(2)}, str(weights))
    _one_line_error(folder, "unexpected weight keys .*crossattention")
    del state["lm_head.dense.weight"]
    save_file(state, str(weights))
    _one_line_error(folder, "missing weight lm_head.dense.weight")


def test_vocabularies_seqformer_cannot_reproduce_name_the_file(tmp_path):
    folder, _ = _bert_folder(tmp_path)
    (folder / "vocab.txt").write_text("\n".join(BERT_SPECIALS + ["the", "##s"] + KMERS3[:62]) + "\n")
    error = _one_line_error(folder, "unsupported vocabulary of 69 tokens")
    assert error.path == str(folder / "vocab.txt")
    (folder / "vocab.txt").unlink()
    (folder / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": {}, "merges": []}}))
    _one_line_error(folder, "a BPE tokenizer")
    (folder / "tokenizer.json").unlink()
    _one_line_error(folder, "no vocabulary")


def test_vocabulary_kinds():
    assert classify_vocabulary(ESM_ALPHABET).kind == "protein"
    nt = classify_vocabulary(NT_VOCAB)
    assert (nt.kind, nt.k, nt.framing, nt.id_of("pad"), nt.id_of("mask")) == ("nt", 2, "cls", 1, 2)
    dnabert = classify_vocabulary(BERT_SPECIALS + KMERS3)
    assert (dnabert.kind, dnabert.k, dnabert.framing) == ("dnabert", 3, "cls-sep")
    with pytest.raises(InputError, match="unsupported vocabulary"):
        classify_vocabulary(BERT_SPECIALS + KMERS3[:-1])  # not all 4**k k-mers


def test_fair_esm_file_without_esm2_config_is_refused(tmp_path):
    torch.save({"model": {"encoder.embed_tokens.weight": torch.zeros(33, 32)}, "cfg": {"model": {}}},
               tmp_path / "bad.pt")
    _one_line_error(tmp_path / "bad.pt", 'lacks encoder_layers')
    torch.save({"weights": 1}, tmp_path / "other.pt")
    _one_line_error(tmp_path / "other.pt", "not a fair-esm checkpoint")


def test_cli_convert_prints_one_line_and_errors_exit_2(tmp_path):
    folder, _ = _bert_folder(tmp_path)
    runner = CliRunner()
    done = runner.invoke(app, ["convert", str(folder), "--out", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == (f"converted HF BertForMaskedLM, DNABERT 3-mers: 2 layers, width 32, vocab 69, "
                                   f"dense attention up to 40 tokens -> "
                                   f"{tmp_path / 'out'}")
    assert isinstance(load_model(tmp_path / "out"), MaskedLM)
    _edit_config(folder, model_type="gpt2")
    failed = runner.invoke(app, ["convert", str(folder), "--out", str(tmp_path / "out2")])
    assert failed.exit_code == 2
    assert failed.output.strip().splitlines() == [
        f"error: {folder / 'config.json'}: model_type 'gpt2' is not converted; seqformer converts "
        "['bert', 'big_bird', 'esm']"]
    assert not (tmp_path / "out2").exists()
