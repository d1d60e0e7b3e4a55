"""The encoder (config, shapes, padding invariance, gradients, attention maps) and model folders."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from seqformer.attention import ATTENTION_KINDS
from seqformer.errors import InputError
from seqformer.models import EncoderConfig, SeqEncoder, load_model, save_pretrained
from seqformer.models.encoder import Rotary, apply_rotary
from seqformer.tokenizers import KmerTokenizer

KINDS = sorted(ATTENTION_KINDS)
#: Tiny values for the options the kinds may have; each kind gets the ones its config defines.
TINY_OPTIONS = {"block_size": 4, "num_random_blocks": 1, "num_global_blocks": 1, "window_blocks": 3,
                "num_features": 16, "window": 3, "num_landmarks": 4, "n_buckets": 4, "chunk_size": 4}


def tiny_config(kind: str = "dense", **fields) -> EncoderConfig:
    """Hidden 32, 2 layers, 2 heads, over a 3-mer vocabulary."""
    names = {f.name for f in dataclasses.fields(ATTENTION_KINDS[kind][0])}
    options = {name: value for name, value in TINY_OPTIONS.items() if name in names}
    tokenizer = KmerTokenizer(k=3, stride=1)
    base = dict(hidden_size=32, num_layers=2, num_heads=2, ffn_size=64, attention=kind,
                attention_options=options, max_length=256, seed=3)
    return EncoderConfig.for_tokenizer(tokenizer, **{**base, **fields})


def tiny_model(kind: str = "dense", **fields) -> SeqEncoder:
    torch.manual_seed(0)
    return SeqEncoder(tiny_config(kind, **fields), tokenizer=KmerTokenizer(k=3, stride=1)).eval()


def random_ids(config: EncoderConfig, batch: int, length: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.randint(5, config.vocab_size, (batch, length), generator=generator)


def test_config_round_trip_and_tokenizer_description():
    config = tiny_config()
    assert config.vocab_size == 5 + 4**3 and config.pad_id == 0
    assert config.tokenizer == {"type": "kmer", "version": 1, "k": 3, "stride": 1}  # no vocab list
    assert EncoderConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("change, message", [
    ({"hidden_size": 33}, "num_heads"),
    ({"hidden_size": 30}, "even head width"),
    ({"attention": "nope"}, "unknown attention kind"),
    ({"attention_options": {"bogus": 1}}, "unknown option"),
    ({"position": "sinusoidal"}, "position"),
    ({"num_layers": 0}, "num_layers"),
    ({"pad_id": 99}, "pad_id"),
])
def test_config_rejects_bad_fields(change, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**change)


def test_config_from_dict_rejects_unknown_keys():
    data = {**tiny_config().to_dict(), "hiden_size": 64}
    with pytest.raises(ValueError, match="hiden_size"):
        EncoderConfig.from_dict(data)


@pytest.mark.parametrize("position", ["rope", "none"])
def test_output_shapes(position):
    model = tiny_model(position=position)
    ids = random_ids(model.config, 3, 20)
    out = model(ids, output_hidden_states=True, output_attentions=True)
    assert out.last_hidden_state.shape == (3, 20, 32)
    assert len(out.hidden_states) == 3 and all(h.shape == (3, 20, 32) for h in out.hidden_states)
    assert len(out.attentions) == 2 and all(a.shape == (3, 2, 20, 20) for a in out.attentions)
    plain = model(ids)
    assert plain.hidden_states is None and plain.attentions is None
    torch.testing.assert_close(plain.last_hidden_state, out.last_hidden_state, rtol=1e-5, atol=1e-5)


def test_attention_rows_sum_to_one_and_skip_padding():
    model = tiny_model()
    ids = random_ids(model.config, 2, 12)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 7:] = False
    ids[1, 7:] = model.config.pad_id
    attentions = model(ids, mask, output_attentions=True).attentions
    for probs in attentions:
        torch.testing.assert_close(probs.sum(-1), torch.ones(2, 2, 12))
        assert probs[1, :, :, 7:].abs().max() == 0


def test_rotary_makes_attention_position_aware():
    with_rope, without = tiny_model(position="rope"), tiny_model(position="none")
    ids = random_ids(with_rope.config, 1, 10)
    ids[0, 2] = ids[0, 7]  # the same token at two positions
    h = with_rope(ids).last_hidden_state[0]
    assert not torch.allclose(h[2], h[7], atol=1e-4)
    h = without(ids).last_hidden_state[0]
    torch.testing.assert_close(h[2], h[7], rtol=1e-5, atol=1e-5)  # no positions: a bag of tokens


def test_rotary_scores_depend_only_on_relative_position():
    rotary = Rotary(head_dim=8, base=10000.0)
    rotation = rotary(12).to(torch.complex128)  # (L, Dh/2)
    q, k = torch.randn(2, 1, 1, 1, 8, dtype=torch.float64).unbind(0)  # one vector each, (1, 1, 1, 8)
    rq = apply_rotary(q.expand(1, 12, 1, 8), rotation)[0, :, 0]  # the same q at every position, (L, Dh)
    rk = apply_rotary(k.expand(1, 12, 1, 8), rotation)[0, :, 0]
    scores = rq @ rk.T  # (L, L): query at m, key at n
    torch.testing.assert_close(scores[3, 1], scores[10, 8])
    torch.testing.assert_close(scores[0, 5], scores[6, 11])
    torch.testing.assert_close(rq.norm(dim=-1), q.norm().expand(12))  # rotations keep lengths


def test_rotary_real_path_matches_complex_path():
    rotation = Rotary(head_dim=16, base=10000.0)(20)
    x = torch.randn(2, 20, 2, 3, 16)  # (B, L, q/k, H, Dh)
    fast = apply_rotary(x, rotation)  # float32: complex multiply
    slow = apply_rotary(x.bfloat16(), rotation).float()  # bf16: real arithmetic, same convention
    torch.testing.assert_close(slow, fast, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("kind", KINDS)
def test_padding_does_not_change_real_tokens(kind):
    model = tiny_model(kind)
    ids = random_ids(model.config, 2, 24)
    mask = torch.ones(2, 24, dtype=torch.bool)
    mask[1, 17:] = False  # the second row is shorter
    ids[1, 17:] = model.config.pad_id
    reference = model(ids, mask).last_hidden_state
    pad = torch.full((2, 16), model.config.pad_id)
    padded = model(torch.cat([ids, pad], 1), torch.cat([mask, pad.bool()], 1)).last_hidden_state
    assert padded.shape == (2, 40, 32)
    torch.testing.assert_close(padded[0, :24], reference[0], rtol=0, atol=1e-5)
    torch.testing.assert_close(padded[1, :17], reference[1, :17], rtol=0, atol=1e-5)
    alone = model(ids[1:, :17]).last_hidden_state  # the short row on its own, no padding at all
    torch.testing.assert_close(padded[1, :17], alone[0], rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_reach_every_parameter(kind):
    model = tiny_model(kind).train()
    ids = random_ids(model.config, 2, 16)
    model(ids).last_hidden_state.pow(2).mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


def test_output_attentions_refused_when_the_kind_cannot():
    model = tiny_model()
    for block in model.blocks:
        block.attention.attention.returns_attention = False  # as a kind without probabilities
    with pytest.raises(ValueError, match="cannot return attention"):
        model(random_ids(model.config, 1, 8), output_attentions=True)


def test_forward_rejects_bad_inputs():
    model = tiny_model()
    with pytest.raises(ValueError, match="max_length"):
        model(random_ids(model.config, 1, 257))
    with pytest.raises(ValueError, match="attention_mask shape"):
        model(random_ids(model.config, 1, 8), torch.ones(1, 9, dtype=torch.bool))


# --- model folders ---------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path):
    """A tiny dense model and the folder it was saved to."""
    model = tiny_model()
    folder = model.save_pretrained(tmp_path / "model")
    return model, folder


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_is_bit_exact(tmp_path, kind):
    model = tiny_model(kind)
    folder = model.save_pretrained(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]
    loaded = SeqEncoder.from_pretrained(folder)
    assert not loaded.training
    assert loaded.config == model.config
    assert loaded.tokenizer == model.tokenizer
    saved_state, loaded_state = model.state_dict(), loaded.state_dict()
    assert saved_state.keys() == loaded_state.keys()
    for name, tensor in saved_state.items():  # parameters and buffers (Performer projections too)
        assert torch.equal(tensor, loaded_state[name]), name
    ids = random_ids(model.config, 2, 20)
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[0, 15:] = False
    assert torch.equal(model(ids, mask).last_hidden_state, loaded(ids, mask).last_hidden_state)


def test_function_api_and_overwrite(saved, tmp_path):
    model, folder = saved
    save_pretrained(model, model.tokenizer, folder)  # replacing a model folder is allowed
    loaded = load_model(folder)
    assert isinstance(loaded, SeqEncoder)
    assert not list(tmp_path.glob(".*"))  # no temporary folders left behind
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="other files"):
        save_pretrained(model, model.tokenizer, folder)


def test_save_refuses_a_mismatched_or_missing_tokenizer(tmp_path):
    model = tiny_model()
    with pytest.raises(ValueError, match="vocab_size"):
        save_pretrained(model, KmerTokenizer(k=4, stride=1), tmp_path / "m")
    with pytest.raises(ValueError, match="stride"):
        save_pretrained(model, KmerTokenizer(k=3, stride=3), tmp_path / "m")
    with pytest.raises(ValueError, match="needs the model's tokenizer"):
        save_pretrained(model, None, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def _edit_weights(folder, edit):
    path = folder / "model.safetensors"
    state = load_file(str(path))
    edit(state)
    save_file(state, str(path))


def test_load_rejects_missing_keys(saved):
    _, folder = saved
    _edit_weights(folder, lambda state: state.pop("blocks.1.mlp.fc_in.weight"))
    with pytest.raises(InputError, match=r"missing keys \['blocks.1.mlp.fc_in.weight'\]"):
        load_model(folder)


def test_load_rejects_unexpected_keys(saved):
    _, folder = saved
    _edit_weights(folder, lambda state: state.update({"head.weight": torch.zeros(2)}))
    with pytest.raises(InputError, match=r"unexpected keys \['head.weight'\]"):
        load_model(folder)


def test_load_rejects_a_shape_mismatch(saved):
    _, folder = saved
    _edit_weights(folder, lambda state: state.update({"norm.weight": torch.ones(31)}))
    with pytest.raises(InputError, match="norm.weight has shape"):
        load_model(folder)


def test_load_rejects_a_mismatched_tokenizer(saved):
    _, folder = saved
    KmerTokenizer(k=4, stride=1).save(folder)
    with pytest.raises(InputError, match="tokenizer does not match") as err:
        load_model(folder)
    assert "k 4 != config k 3" in str(err.value)


def test_load_rejects_bad_config_keys(saved):
    _, folder = saved
    path = folder / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "hiden_size": 8}))
    with pytest.raises(InputError, match="hiden_size"):
        load_model(folder)


def test_load_rejects_a_folder_without_model_files(saved, tmp_path):
    _, folder = saved
    (folder / "model.safetensors").unlink()
    with pytest.raises(InputError, match="model.safetensors"):
        load_model(folder)
    with pytest.raises(InputError, match="not a model folder"):
        load_model(tmp_path / "nothing")


def test_model_folder_and_files_get_the_usual_permissions(tmp_path):
    """Folders renamed into place are not left at mkdtemp's private 0700 mode."""
    import os
    import stat

    from seqformer.tokenizers import KmerTokenizer

    tok = KmerTokenizer(k=3, stride=1)
    model = SeqEncoder(EncoderConfig.for_tokenizer(tok, hidden_size=16, num_layers=1, num_heads=2,
                                                   ffn_size=32), tokenizer=tok)
    mask = os.umask(0o022)
    try:
        folder = model.save_pretrained(tmp_path / "model")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o644


def test_load_model_picks_the_class_config_json_names(tmp_path):
    """One loader: a masked LM, a classifier and a bare encoder each come back as themselves."""
    from seqformer.errors import InputError
    from seqformer.models import ClassifierConfig, MaskedLM, MaskedLMConfig, SequenceClassifier
    from seqformer.tokenizers import KmerTokenizer

    tokenizer = KmerTokenizer(3)
    encoder = EncoderConfig.for_tokenizer(tokenizer, hidden_size=16, num_layers=1, num_heads=2, ffn_size=32,
                                          max_length=32)
    torch.manual_seed(0)
    made = {"mlm": MaskedLM(MaskedLMConfig(encoder), tokenizer=tokenizer),
            "clf": SequenceClassifier(ClassifierConfig(encoder, ("promoter",), problem_type="binary", window=30),
                                      tokenizer=tokenizer),
            "enc": SeqEncoder(encoder, tokenizer=tokenizer)}
    for name, model in made.items():
        model.save_pretrained(tmp_path / name)
        loaded = load_model(tmp_path / name)
        assert type(loaded) is type(model) and not loaded.training and loaded.tokenizer.k == 3
        for key, value in model.state_dict().items():
            torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0)
    (tmp_path / "run").mkdir()
    (tmp_path / "mlm").rename(tmp_path / "run" / "model")  # a pretraining run folder loads its model/
    assert isinstance(load_model(tmp_path / "run", expect=MaskedLM), MaskedLM)
    with pytest.raises(InputError, match="not a sequence classifier: the folder holds a bare encoder"):
        load_model(tmp_path / "enc", expect=SequenceClassifier)
    config = json.loads((tmp_path / "enc" / "config.json").read_text())
    (tmp_path / "enc" / "config.json").write_text(json.dumps({**config, "model_type": "vision"}))
    with pytest.raises(InputError, match="unknown model_type 'vision'"):
        load_model(tmp_path / "enc")


def test_classifier_loss_follows_problem_type():
    """binary and multi_label: BCE (positives weighted); single_label: cross-entropy over the labels."""
    from seqformer.models import ClassifierConfig, SequenceClassifier
    from seqformer.tokenizers import KmerTokenizer

    tokenizer = KmerTokenizer(3)
    encoder = EncoderConfig.for_tokenizer(tokenizer, hidden_size=8, num_layers=1, num_heads=2, ffn_size=16)
    logits = torch.tensor([[0.3, -1.2], [2.0, 0.5]])
    two = SequenceClassifier(ClassifierConfig(encoder, ("a", "b")), tokenizer=tokenizer)
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    weight = torch.tensor([2.0, 1.0])
    p = torch.sigmoid(logits)
    expected = -(weight * labels * p.log() + (1 - labels) * (1 - p).log()).mean()
    torch.testing.assert_close(two.loss(logits, labels, pos_weight=weight), expected)
    single = SequenceClassifier(ClassifierConfig(encoder, ("a", "b"), problem_type="single_label"), tokenizer=tokenizer)
    classes = torch.tensor([1, 0])
    torch.testing.assert_close(single.loss(logits, classes), -torch.log_softmax(logits, -1)[[0, 1], [1, 0]].mean())
    binary = SequenceClassifier(ClassifierConfig(encoder, ("a",), problem_type="binary"), tokenizer=tokenizer)
    one = torch.tensor([[0.7], [-0.2]])
    torch.testing.assert_close(binary.loss(one, torch.tensor([1.0, 0.0])),
                               -(torch.log(torch.sigmoid(one[0, 0])) + torch.log(1 - torch.sigmoid(one[1, 0]))) / 2)
    with pytest.raises(ValueError, match="a binary problem has one label"):
        ClassifierConfig(encoder, ("a", "b"), problem_type="binary")
