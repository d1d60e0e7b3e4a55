"""Attention kinds behind one interface (see :mod:`seqformer.attention.base`).

``ATTENTION_KINDS`` maps a kind's name to its (config dataclass, module class). Every module is
built as ``cls(config, num_heads=H, head_dim=D, layer_index=i, seed=s)``.

| kind | module | exact? | memory in L |
| --- | --- | --- | --- |
| dense | dense.py | reference | L² only with probabilities |
| bigbird | bigbird.py | exact on its block mask | linear |
| performer-softmax, performer-relu | performer.py | random-feature approximation | linear |
| longformer | longformer.py | exact on its window + global mask | linear |
| nystromformer | nystromformer.py | landmark approximation | linear |
| reformer-lsh | reformer.py | exact on its LSH buckets (shared QK) | linear |
"""

from __future__ import annotations

import dataclasses
from typing import Any

from seqformer.attention.base import Attention, AttentionOutput, masked_softmax_attention
from seqformer.attention.bigbird import BigBirdAttention, BigBirdAttentionConfig
from seqformer.attention.dense import DenseAttention, DenseAttentionConfig
from seqformer.attention.longformer import LongformerAttention, LongformerAttentionConfig
from seqformer.attention.nystromformer import NystromAttention, NystromformerConfig
from seqformer.attention.performer import (PerformerReluAttention, PerformerReluConfig,
                                           PerformerSoftmaxAttention, PerformerSoftmaxConfig)
from seqformer.attention.reformer import ReformerLSHAttention, ReformerLSHConfig

ATTENTION_KINDS: dict[str, tuple[type, type[Attention]]] = {
    "dense": (DenseAttentionConfig, DenseAttention),
    "bigbird": (BigBirdAttentionConfig, BigBirdAttention),
    "performer-softmax": (PerformerSoftmaxConfig, PerformerSoftmaxAttention),
    "performer-relu": (PerformerReluConfig, PerformerReluAttention),
    "longformer": (LongformerAttentionConfig, LongformerAttention),
    "nystromformer": (NystromformerConfig, NystromAttention),
    "reformer-lsh": (ReformerLSHConfig, ReformerLSHAttention),
}


def build_attention(kind: str, options: dict[str, Any] | None = None, *, num_heads: int,
                    head_dim: int, layer_index: int = 0, seed: int = 0) -> Attention:
    """Build the attention module of ``kind`` from a dict of its config's fields."""
    if kind not in ATTENTION_KINDS:
        raise ValueError(f"unknown attention kind {kind!r}; choose from {sorted(ATTENTION_KINDS)}")
    config_cls, module_cls = ATTENTION_KINDS[kind]
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(options or {}) - known)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for attention {kind!r}; its options are {sorted(known)}")
    config = config_cls(**(options or {}))
    return module_cls(config, num_heads=num_heads, head_dim=head_dim, layer_index=layer_index, seed=seed)


__all__ = ["ATTENTION_KINDS", "Attention", "AttentionOutput", "BigBirdAttention", "BigBirdAttentionConfig",
           "DenseAttention", "DenseAttentionConfig", "LongformerAttention", "LongformerAttentionConfig",
           "NystromAttention", "NystromformerConfig", "PerformerReluAttention", "PerformerReluConfig",
           "PerformerSoftmaxAttention", "PerformerSoftmaxConfig", "ReformerLSHAttention", "ReformerLSHConfig",
           "build_attention", "masked_softmax_attention"]
