"""Hugging Face folders: ``EsmForMaskedLM``, ``BertForMaskedLM`` and ``BigBirdForMaskedLM`` → seqformer names.

Axes: D width, H heads, Dh = D / H, F MLP width (``intermediate_size``), V vocabulary, P position rows.

A folder holds ``config.json`` (``model_type`` "esm", "bert" or "big_bird", architectures naming
the MaskedLM class), weights (``model.safetensors``, ``pytorch_model.bin`` or a sharded
``*.index.json``) and a vocabulary (:mod:`seqformer.convert.vocab`). Keys that config.json leaves
out take the transformers config class's defaults (:data:`DEFAULTS`). Nothing of transformers is
imported: the folder is read as files.

Layouts (transformers' modeling_esm.py / modeling_bert.py / modeling_big_bird.py):

- ESM (ESM-2, Nucleotide Transformer v1): pre-LN blocks, final LayerNorm (``emb_layer_norm_after``),
  exact GELU everywhere (ESM ignores ``hidden_act``), token dropout as configured. ``rotary``
  positions → ``position="rope"`` with q/k rows interleaved (:func:`~seqformer.convert.weights.fuse_qkv`);
  ``absolute`` → a learned table with ``position_offset = pad_token_id + 1`` (ESM counts positions
  from padding_idx + 1) and ``max_length = max_position_embeddings - offset``. ``emb_layer_norm_before``
  becomes ``embedding_norm``. HF zeroes padded positions' embeddings; only padded outputs differ.
- BERT (DNABERT) and BigBird: post-LN blocks, no final LayerNorm, LayerNorm on the embeddings,
  ``hidden_act`` "gelu" (exact) or "gelu_new" / "gelu_pytorch_tanh" (tanh). The token-type
  embedding HF adds to every token (type 0, since seqformer passes no token-type ids) is folded into the position table
  (``position_embed[i] = position_embeddings[i] + token_type_embeddings[0]``; the same sums up to fp32
  rounding), so seqformer needs no token-type field. BigBird's ``rescale_embeddings`` becomes
  ``embedding_scale = sqrt(D)``; ``use_bias=False`` gives zero q/k/v biases. BigBird's
  ``attention_type`` "original_full" is dense attention, converted exactly; a "block_sparse" source
  is converted to dense attention too, which is exact wherever HF itself runs full attention (inputs
  up to (5 + 2·num_random_blocks)·block_size tokens) and otherwise computes the full attention the
  sparse pattern approximates; pick seqformer's ``bigbird`` kind afterwards to run sparse.

The LM head (dense → act → LayerNorm → decoder + bias) is tied to the token embedding when
config.json ties it (``tie_word_embeddings``, default true: the stored decoder is then ignored, as
HF ignores it) or when the stored decoder equals the embedding; otherwise it keeps its own decoder
(``MaskedLMConfig(tie_word_embeddings=False)``). Untied BERT heads use the decoder's own bias, as HF does.

Source keys dropped on purpose (any other unknown key is an InputError): ``esm.contact_head.*``,
``esm.pooler.*``, ``esm.embeddings.position_ids``, rotary ``inv_freq`` buffers
(``esm.rotary_embeddings.inv_freq``, ``esm.encoder.layer.N.attention.self.rotary_embeddings.inv_freq``
and the ``layer.*`` form transformers 5 writes), a rotary model's unused
``esm.embeddings.position_embeddings.weight``, ``bert.embeddings.position_ids`` /
``token_type_ids``, ``bert.pooler.*``, ``cls.seq_relationship.*``, and a tied head's stored
``decoder.weight`` / ``decoder.bias`` (or an untied BERT head's unused ``cls.predictions.bias``).

Refused with an InputError naming config.json and the field: another ``model_type`` or model class,
custom code (``auto_map``), decoders and cross-attention, ESMFold, BERT ``position_embedding_type``
other than "absolute" (e.g. "relative_key"), an activation other than the GELUs, and a vocabulary
or weights that disagree with config.json. LayerNorm weights named ``LayerNorm.gamma`` / ``.beta``
(TF-era checkpoints, and what transformers 5 writes back on save) are read as ``.weight`` / ``.bias``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from seqformer.convert.conversion import Conversion, put, put_block
from seqformer.convert.vocab import Vocabulary, folder_vocabulary
from seqformer.convert.weights import (
    StateReader,
    fuse_qkv,
    read_folder_weights,
    rename_legacy_layer_norms,
    tied_or_own_decoder,
)
from seqformer.errors import InputError
from seqformer.models import EncoderConfig, MaskedLMConfig

CONFIG_FILE = "config.json"
#: model_type → the one class we convert.
MASKED_LM_CLASSES = {"esm": "EsmForMaskedLM", "bert": "BertForMaskedLM", "big_bird": "BigBirdForMaskedLM"}
_COMMON = {"tie_word_embeddings": True, "is_decoder": False, "add_cross_attention": False, "layer_norm_eps": 1e-12,
           "hidden_dropout_prob": 0.1, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
           "intermediate_size": 3072}
#: The transformers config classes' defaults (5.x) for the keys we read, used when config.json omits one.
DEFAULTS: dict[str, dict[str, Any]] = {
    "esm": {**_COMMON, "vocab_size": None, "pad_token_id": None, "mask_token_id": None, "max_position_embeddings": 1026,
            "position_embedding_type": "absolute", "token_dropout": False, "emb_layer_norm_before": None,
            "rope_theta": 10000.0, "is_folding_model": False},
    "bert": {**_COMMON, "vocab_size": 30522, "pad_token_id": 0, "hidden_act": "gelu", "max_position_embeddings": 512,
             "type_vocab_size": 2, "position_embedding_type": "absolute"},
    "big_bird": {**_COMMON, "vocab_size": 50358, "pad_token_id": 0, "hidden_act": "gelu_new",
                 "max_position_embeddings": 4096, "type_vocab_size": 2, "rescale_embeddings": False, "use_bias": True,
                 "attention_type": "block_sparse"},
}
#: HF hidden_act → seqformer activation.
ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}
_ESM_IGNORED = (r"esm\.contact_head\..*", r"esm\.pooler\..*", r"esm\.embeddings\.position_ids",
                r"esm\.(encoder\.layer\.(\d+|\*)\.attention\.self\.)?rotary_embeddings\.inv_freq")
_BERT_IGNORED = (r"bert\.embeddings\.position_ids", r"bert\.embeddings\.token_type_ids", r"bert\.pooler\..*",
                 r"cls\.seq_relationship\..*")


class HFConfig:
    """config.json's fields with the config class's defaults; typed getters raise InputError naming the field."""

    def __init__(self, data: dict[str, Any], model_type: str, path: Path) -> None:
        self.data, self.defaults, self.path = data, DEFAULTS[model_type], path

    def __getitem__(self, key: str) -> Any:
        return self.data.get(key, self.defaults.get(key))

    def fail(self, key: str, why: str) -> InputError:
        """The error for a field we cannot convert."""
        return InputError(f"{key} {self[key]!r}: {why}", path=self.path)

    def positive(self, key: str) -> int:
        """A positive integer field."""
        value = self[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(key, "must be a positive integer")
        return value

    def index(self, key: str, size: int) -> int:
        """A token id field, in [0, size)."""
        value = self[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
            raise self.fail(key, f"must be a token id in [0, {size})")
        return value


def read_hf_config(folder: Path) -> tuple[HFConfig, str]:
    """(config, model_type) of a HF folder after the checks every layout shares."""
    path = folder / CONFIG_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"unreadable config ({err})", path=path) from None
    if not isinstance(data, dict):
        raise InputError("config.json must be a JSON object", path=path)
    if data.get("auto_map"):
        raise InputError("auto_map: the model needs its own remote code (trust_remote_code), which seqformer does "
                         "not run; convert a standard EsmForMaskedLM, BertForMaskedLM or BigBirdForMaskedLM", path=path)
    model_type = data.get("model_type")
    if model_type not in MASKED_LM_CLASSES:
        raise InputError(f"model_type {model_type!r} is not converted; seqformer converts {sorted(MASKED_LM_CLASSES)}",
                         path=path)
    expected = MASKED_LM_CLASSES[model_type]
    architectures = data.get("architectures")
    if architectures is not None and expected not in architectures:
        raise InputError(f"architectures {architectures}: seqformer converts {expected} (a masked language model "
                         "with its LM head)", path=path)
    config = HFConfig(data, model_type, path)
    for key in ("is_decoder", "add_cross_attention", "is_folding_model"):
        if config[key]:
            raise config.fail(key, "decoders, cross-attention and ESMFold are not converted")
    return config, model_type


def _shape(config: HFConfig, vocab: Vocabulary) -> tuple[int, int, int, int, int]:
    """(V, D, H, F, layers) from config.json, V checked against the vocabulary file."""
    V, D, H = config.positive("vocab_size"), config.positive("hidden_size"), config.positive("num_attention_heads")
    if D % H:
        raise config.fail("hidden_size", f"does not divide by num_attention_heads {H}")
    if vocab.size != V:
        raise InputError(f"the vocabulary has {vocab.size} tokens, config.json vocab_size is {V}", path=vocab.path)
    return V, D, H, config.positive("intermediate_size"), config.positive("num_hidden_layers")


def _common_fields(config: HFConfig) -> dict[str, Any]:
    """EncoderConfig fields every layout reads the same way."""
    eps, dropout = config["layer_norm_eps"], config["hidden_dropout_prob"] or 0.0
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or eps <= 0:
        raise config.fail("layer_norm_eps", "must be a positive number")
    if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise config.fail("hidden_dropout_prob", "must be in [0, 1)")
    return {"layer_norm_eps": float(eps), "dropout": float(dropout), "attention": "dense"}


def _head(reader: StateReader, state: dict, prefix: str, D: int, V: int, embedding: torch.Tensor,
          tie: bool, bert: bool) -> bool:
    """Store the LM head (dense, LayerNorm, decoder, bias) under seqformer's names; True if tied.

    ``prefix`` is "lm_head" (ESM: ``dense``, ``layer_norm``, a decoder without bias, ``bias``) or
    "cls.predictions" (BERT: ``transform.dense``, ``transform.LayerNorm``, a decoder with bias).
    """
    put(state, "head.dense", reader.linear(f"{prefix}.transform.dense" if bert else f"{prefix}.dense", D, D))
    put(state, "head.norm", reader.layer_norm(f"{prefix}.transform.LayerNorm" if bert else f"{prefix}.layer_norm", D))
    decoder_key, bias_key, own_bias = f"{prefix}.decoder.weight", f"{prefix}.bias", f"{prefix}.decoder.bias"
    if tie:
        reader.ignore(re.escape(decoder_key), re.escape(own_bias))
        state["head.bias"] = reader.take(bias_key if reader.has(bias_key) or not bert else own_bias, (V,))
        return True
    decoder = tied_or_own_decoder(reader.take(decoder_key, (V, D)), embedding)
    if bert:
        reader.ignore(re.escape(bias_key))
    state["head.bias"] = reader.take(own_bias if bert else bias_key, (V,))
    if decoder is not None:
        state["head.decoder"] = decoder
    return decoder is None


def _esm(config: HFConfig, vocab: Vocabulary, reader: StateReader) -> tuple[str, EncoderConfig, dict, bool]:
    """(source, encoder config, state, tied) of an EsmForMaskedLM."""
    V, D, H, F, layers = _shape(config, vocab)
    kind = config["position_embedding_type"]
    if kind not in ("rotary", "absolute"):
        raise config.fail("position_embedding_type", "seqformer converts ESM's 'rotary' and 'absolute' positions")
    pad = config.index("pad_token_id", V)
    if pad != vocab.id_of("pad"):
        raise config.fail("pad_token_id", f"disagrees with the vocabulary's pad token id {vocab.id_of('pad')}")
    fields: dict[str, Any] = {**_common_fields(config), "norm": "pre", "final_norm": True, "activation": "gelu",
                              "embedding_norm": bool(config["emb_layer_norm_before"])}
    positions = config.positive("max_position_embeddings")
    if config["token_dropout"]:
        mask = config.index("mask_token_id", V)
        if mask != vocab.id_of("mask"):
            raise config.fail("mask_token_id", f"disagrees with the vocabulary's mask token id {vocab.id_of('mask')}")
        fields |= {"token_dropout": True, "mask_id": mask}
    state: dict[str, torch.Tensor] = {}
    embedding = reader.take("esm.embeddings.word_embeddings.weight", (V, D))
    state["encoder.embed.weight"] = embedding
    if kind == "rotary":
        base = config["rope_theta"]
        fields |= {"position": "rope", "rope_base": float(base), "max_length": positions}
        reader.ignore(r"esm\.embeddings\.position_embeddings\.weight")
    else:
        offset = pad + 1
        if positions <= offset:
            raise config.fail("max_position_embeddings", f"leaves no positions after the offset {offset}")
        fields |= {"position": "learned", "position_offset": offset, "max_length": positions - offset}
        table = reader.take("esm.embeddings.position_embeddings.weight", (positions, D))
        state["encoder.position_embed.weight"] = table
    if fields["embedding_norm"]:
        put(state, "encoder.embed_norm", reader.layer_norm("esm.embeddings.layer_norm", D))
    for i in range(layers):
        layer = f"esm.encoder.layer.{i}"
        q, k, v = (reader.linear(f"{layer}.attention.self.{name}", D, D) for name in ("query", "key", "value"))
        put_block(state, i, qkv=fuse_qkv(q, k, v, H, rotary=kind == "rotary"),
                  proj=reader.linear(f"{layer}.attention.output.dense", D, D),
                  norm_attention=reader.layer_norm(f"{layer}.attention.LayerNorm", D),
                  fc_in=reader.linear(f"{layer}.intermediate.dense", F, D),
                  fc_out=reader.linear(f"{layer}.output.dense", D, F),
                  norm_mlp=reader.layer_norm(f"{layer}.LayerNorm", D))
    put(state, "encoder.norm", reader.layer_norm("esm.encoder.emb_layer_norm_after", D))
    tied = _head(reader, state, "lm_head", D, V, embedding, bool(config["tie_word_embeddings"]), bert=False)
    encoder = EncoderConfig(vocab_size=V, pad_id=pad, hidden_size=D, num_layers=layers, num_heads=H, ffn_size=F,
                            **fields)
    return f"HF EsmForMaskedLM ({kind} positions)", encoder, state, tied


def _bert(config: HFConfig, vocab: Vocabulary, reader: StateReader, big_bird: bool
          ) -> tuple[str, EncoderConfig, dict, bool]:
    """(source, encoder config, state, tied) of a BertForMaskedLM or BigBirdForMaskedLM."""
    V, D, H, F, layers = _shape(config, vocab)
    if not big_bird and config["position_embedding_type"] != "absolute":
        raise config.fail("position_embedding_type", "only 'absolute' positions convert (relative ones are not "
                          "implemented in seqformer)")
    activation = ACTIVATIONS.get(config["hidden_act"])
    if activation is None:
        raise config.fail("hidden_act", f"seqformer's activations are {sorted(ACTIVATIONS)}")
    positions, types = config.positive("max_position_embeddings"), config.positive("type_vocab_size")
    fields: dict[str, Any] = {**_common_fields(config), "norm": "post", "final_norm": False, "embedding_norm": True,
                              "activation": activation, "position": "learned", "position_offset": 0,
                              "max_length": positions}
    source = "HF BertForMaskedLM"
    if big_bird:
        attention = config["attention_type"]
        if attention not in ("original_full", "block_sparse"):
            raise config.fail("attention_type", "must be 'original_full' or 'block_sparse'")
        if config["rescale_embeddings"]:
            fields["embedding_scale"] = D**0.5
        source = f"HF BigBirdForMaskedLM ({attention} source, dense attention here)"
    state: dict[str, torch.Tensor] = {}
    embedding = reader.take("bert.embeddings.word_embeddings.weight", (V, D))
    state["encoder.embed.weight"] = embedding
    table = reader.take("bert.embeddings.position_embeddings.weight", (positions, D))
    token_type = reader.take("bert.embeddings.token_type_embeddings.weight", (types, D))
    state["encoder.position_embed.weight"] = table + token_type[0]  # type 0 at every position, folded in
    put(state, "encoder.embed_norm", reader.layer_norm("bert.embeddings.LayerNorm", D))
    qkv_bias = not big_bird or bool(config["use_bias"])
    for i in range(layers):
        layer = f"bert.encoder.layer.{i}"
        q, k, v = (reader.linear(f"{layer}.attention.self.{name}", D, D, bias=qkv_bias)
                   for name in ("query", "key", "value"))
        put_block(state, i, qkv=fuse_qkv(q, k, v, H, rotary=False),
                  proj=reader.linear(f"{layer}.attention.output.dense", D, D),
                  norm_attention=reader.layer_norm(f"{layer}.attention.output.LayerNorm", D),
                  fc_in=reader.linear(f"{layer}.intermediate.dense", F, D),
                  fc_out=reader.linear(f"{layer}.output.dense", D, F),
                  norm_mlp=reader.layer_norm(f"{layer}.output.LayerNorm", D))
    tied = _head(reader, state, "cls.predictions", D, V, embedding, bool(config["tie_word_embeddings"]),
                 bert=True)
    encoder = EncoderConfig(vocab_size=V, pad_id=vocab.id_of("pad"), hidden_size=D, num_layers=layers, num_heads=H,
                            ffn_size=F, **fields)
    return source, encoder, state, tied


def convert_hf_folder(folder: Path) -> Conversion:
    """Read a HF EsmForMaskedLM / BertForMaskedLM / BigBirdForMaskedLM folder as a :class:`Conversion`."""
    config, model_type = read_hf_config(folder)
    vocab = folder_vocabulary(folder)
    state, weights_path = read_folder_weights(folder)
    state = rename_legacy_layer_norms(state)  # transformers 5 also writes these names back on save
    if model_type == "esm":
        reader = StateReader(state, weights_path, _ESM_IGNORED)
        source, encoder, ours, tied = _esm(config, vocab, reader)
    else:
        reader = StateReader(state, weights_path, _BERT_IGNORED)
        source, encoder, ours, tied = _bert(config, vocab, reader, big_bird=model_type == "big_bird")
    reader.finish()
    return Conversion(source, folder, MaskedLMConfig(encoder, tie_word_embeddings=tied), ours, vocab)
