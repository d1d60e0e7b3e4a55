"""The same weights under another attention kind, e.g. to run a model past the length it was trained at.

Axes: L tokens. Every attention kind but Reformer-LSH reads the same projections (a fused Q, K, V
``Linear`` per block), so a model trained (or converted) with dense attention can be rebuilt with
BigBird, Performer (softmax or ReLU), Longformer or Nyströmformer over the very same weights; what
changes is only which query-key pairs are scored (or how they are approximated). Rotary positions
have no table, so such a model also accepts inputs longer than any it was trained on
(``max_length``); a model with a learned absolute position table (BERT, DNABERT, Nucleotide
Transformer v1) cannot, and asking for more is a ValueError naming the table's length.

Parameters and buffers keep their names; the new kind's own buffers (Performer random features)
come from the config's seed, as they would for a fresh model. Reformer-LSH shares queries and
keys (a Q, V projection), so it cannot reuse separate Q and K weights: a ValueError says so.
How far the new kind drifts from dense on the same weights is measured by
``seqformer bench converted`` (docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from seqformer.attention import ATTENTION_KINDS
from seqformer.models.config import EncoderConfig


def _encoder_config(config: Any) -> EncoderConfig:
    """The EncoderConfig of a bare encoder's config or of a task model's (``.encoder``)."""
    return config if isinstance(config, EncoderConfig) else config.encoder


def with_attention(model: nn.Module, kind: str, options: dict[str, Any] | None = None, *,
                   max_length: int | None = None) -> nn.Module:
    """A copy of ``model`` (MaskedLM, SequenceClassifier or SeqEncoder) whose blocks use attention ``kind``.

    Args:
        model: a seqformer model carrying ``.config`` and ``.tokenizer``.
        kind: a key of :data:`seqformer.attention.ATTENTION_KINDS` (``reformer-lsh`` excepted).
        options: that kind's options (its config dataclass's fields); None = the kind's defaults.
        max_length: the longest input the new model accepts; None keeps the model's.

    Returns:
        the new model, with the same weights and tokenizer, in the mode (train/eval) of ``model``.

    Raises:
        ValueError: an unknown kind or bad options, Reformer-LSH, or a longer ``max_length`` for a
            model with learned absolute positions.
    """
    if kind not in ATTENTION_KINDS:
        raise ValueError(f"unknown attention kind {kind!r}; choose from {sorted(ATTENTION_KINDS)}")
    old = _encoder_config(model.config)
    length = old.max_length if max_length is None else max_length
    if getattr(old, "position", "rope") == "learned" and length > old.max_length:
        raise ValueError(f"this model has learned absolute positions for {old.max_length} tokens; "
                         f"it cannot read {length} (only rotary models run past their trained length)")
    encoder = dataclasses.replace(old, attention=kind, attention_options=dict(options or {}), max_length=length)
    if ATTENTION_KINDS[kind][1].shared_qk and not ATTENTION_KINDS[old.attention][1].shared_qk:
        raise ValueError(f"{kind} shares queries and keys (one Q, V projection); "
                         f"the {old.attention} model's separate Q and K weights cannot be reused")
    config = encoder if isinstance(model.config, EncoderConfig) else dataclasses.replace(model.config, encoder=encoder)
    new = type(model)(config, tokenizer=model.tokenizer)
    state, fresh = model.state_dict(), new.state_dict()
    missing = sorted(set(state) - set(fresh))
    if missing:
        raise ValueError(f"attention {kind!r} has no place for weights {missing[:4]}")
    for name, tensor in state.items():
        if fresh[name].shape != tensor.shape:
            raise ValueError(f"weight {name} has shape {tuple(tensor.shape)} but attention {kind!r} "
                             f"needs {tuple(fresh[name].shape)}")
    fresh.update(state)  # the new kind's own buffers (random features) stay as its seed made them
    new.load_state_dict(fresh, strict=True)
    return new.to(next(model.parameters()).device).train(model.training)
