"""fair-esm ESM-2 checkpoints (``esm2_t*_UR50D.pt``) → seqformer names.

Axes: D width (``encoder_embed_dim``), H heads, F = 4·D MLP width, V = 33 (the ESM-2 alphabet).

The file is ``torch.load(weights_only=True)``-ed (its config may be an ``argparse.Namespace``,
the one class allowed) and read as fair-esm's ``esm/pretrained.py``
(``_load_model_and_alphabet_core_v2``) reads it: ``"model"`` is the state dict, whose key prefixes
``encoder.sentence_encoder.`` or ``encoder.`` are stripped (``upgrade_state_dict``), and
``"cfg"["model"]`` gives ``encoder_layers``, ``encoder_embed_dim``, ``encoder_attention_heads`` and
``token_dropout``. The model is fair-esm's ``ESM2``: pre-LN blocks with rotary q/k (rotate_half,
interleaved here by :func:`~seqformer.convert.weights.fuse_qkv`), exact GELU, LayerNorm eps 1e-5,
``emb_layer_norm_after``, the RoBERTa LM head tied to ``embed_tokens``, token dropout on
``<mask>`` (id 32), padding id 1, and the alphabet :data:`~seqformer.convert.vocab.ESM_ALPHABET`.
The head's ``lm_head.weight`` is the same parameter as ``embed_tokens.weight`` in fair-esm; when
a file stores both, loading ends with ``lm_head.weight`` in that one parameter, and so does this
converter. ``max_length`` is ``cfg max_positions + 2`` (<cls> and <eos>) when the config has it,
else 1026 (HF's ESM-2 value).

Dropped on purpose: ``contact_head.*`` (contact regression) and ``layers.N.self_attn.rot_emb.inv_freq``.
Other unknown keys (e.g. ESM-1b's ``embed_positions``) are an InputError: only ESM-2 converts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from seqformer.convert.conversion import Conversion, put, put_block
from seqformer.convert.vocab import ESM_ALPHABET, classify_vocabulary
from seqformer.convert.weights import StateReader, fuse_qkv, load_torch_file
from seqformer.errors import InputError
from seqformer.models import EncoderConfig, MaskedLMConfig

_PREFIX = re.compile(r"^(encoder\.sentence_encoder\.|encoder\.)")  # fair-esm's upgrade_state_dict
_IGNORED = (r"contact_head\..*", r"layers\.\d+\.self_attn\.rot_emb\.inv_freq")
ESM2_LAYER_NORM_EPS = 1e-5  # torch's LayerNorm default, which fair-esm's ESM1bLayerNorm is without apex
DEFAULT_MAX_LENGTH = 1026  # 1024 residues + <cls> + <eos>


def _field(cfg: Any, key: str, path: Path) -> Any:
    """``cfg[key]`` or ``cfg.key`` (a dict or an argparse.Namespace); InputError if absent."""
    value = cfg.get(key) if isinstance(cfg, dict) else getattr(cfg, key, None)
    if value is None:
        raise InputError(f'cfg["model"] lacks {key}: not an ESM-2 checkpoint', path=path)
    return value


def _positive(cfg: Any, key: str, path: Path) -> int:
    value = _field(cfg, key, path)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f'cfg["model"] {key} {value!r} must be a positive integer', path=path)
    return value


def convert_fair_esm_file(path: Path) -> Conversion:
    """Read a fair-esm ESM-2 ``.pt`` file as a :class:`Conversion`."""
    data = load_torch_file(path)
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict) or "cfg" not in data:
        raise InputError('not a fair-esm checkpoint: expected a dict with "model" (the state dict) and "cfg"',
                         path=path)
    cfg = data["cfg"].get("model") if isinstance(data["cfg"], dict) else getattr(data["cfg"], "model", None)
    if cfg is None:
        raise InputError('cfg has no "model" section: not an ESM-2 checkpoint', path=path)
    layers, D, H = (_positive(cfg, key, path) for key in ("encoder_layers", "encoder_embed_dim",
                                                           "encoder_attention_heads"))
    if D % H or (D // H) % 2:
        raise InputError(f"encoder_embed_dim {D} must divide by encoder_attention_heads {H} into an even head width",
                         path=path)
    token_dropout = bool(_field(cfg, "token_dropout", path))
    positions = cfg.get("max_positions") if isinstance(cfg, dict) else getattr(cfg, "max_positions", None)
    max_length = positions + 2 if isinstance(positions, int) and positions > 0 else DEFAULT_MAX_LENGTH

    vocab = classify_vocabulary(ESM_ALPHABET)
    V, F = vocab.size, 4 * D
    state = {_PREFIX.sub("", key): value for key, value in data["model"].items()}
    if not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise InputError('"model" must map names to tensors', path=path)
    reader = StateReader(state, path, _IGNORED)
    ours: dict[str, torch.Tensor] = {}
    embedding = reader.take("embed_tokens.weight", (V, D))
    if reader.has("lm_head.weight"):  # one parameter in fair-esm: the value loaded last wins
        embedding = reader.take("lm_head.weight", (V, D))
    ours["encoder.embed.weight"] = embedding
    for i in range(layers):
        layer = f"layers.{i}"
        q, k, v = (reader.linear(f"{layer}.self_attn.{name}_proj", D, D) for name in "qkv")
        put_block(ours, i, qkv=fuse_qkv(q, k, v, H, rotary=True),
                  proj=reader.linear(f"{layer}.self_attn.out_proj", D, D),
                  norm_attention=reader.layer_norm(f"{layer}.self_attn_layer_norm", D),
                  fc_in=reader.linear(f"{layer}.fc1", F, D), fc_out=reader.linear(f"{layer}.fc2", D, F),
                  norm_mlp=reader.layer_norm(f"{layer}.final_layer_norm", D))
    put(ours, "encoder.norm", reader.layer_norm("emb_layer_norm_after", D))
    put(ours, "head.dense", reader.linear("lm_head.dense", D, D))
    put(ours, "head.norm", reader.layer_norm("lm_head.layer_norm", D))
    ours["head.bias"] = reader.take("lm_head.bias", (V,))
    reader.finish()

    encoder = EncoderConfig(vocab_size=V, pad_id=vocab.id_of("pad"), hidden_size=D, num_layers=layers, num_heads=H,
                            ffn_size=F, attention="dense", position="rope", max_length=max_length,
                            layer_norm_eps=ESM2_LAYER_NORM_EPS, token_dropout=token_dropout,
                            mask_id=vocab.id_of("mask") if token_dropout else None, activation="gelu")
    return Conversion("fair-esm ESM-2", path, MaskedLMConfig(encoder, tie_word_embeddings=True), ours, vocab)
