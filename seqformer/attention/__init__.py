"""Attention kinds behind one interface (see :mod:`seqformer.attention.base`).

``ATTENTION_KINDS`` maps a kind's name to its (config dataclass, module class). Every module is
built as ``cls(config, num_heads=H, head_dim=D, layer_index=i, seed=s)``.
"""

from __future__ import annotations

from typing import Any

from seqformer.attention.base import Attention, AttentionOutput, masked_softmax_attention
from seqformer.attention.dense import DenseAttention, DenseAttentionConfig

ATTENTION_KINDS: dict[str, tuple[type, type[Attention]]] = {
    "dense": (DenseAttentionConfig, DenseAttention),
}


def build_attention(kind: str, options: dict[str, Any] | None = None, *, num_heads: int,
                    head_dim: int, layer_index: int = 0, seed: int = 0) -> Attention:
    """Build the attention module of ``kind`` from a dict of its config's fields."""
    if kind not in ATTENTION_KINDS:
        raise ValueError(f"unknown attention kind {kind!r}; choose from {sorted(ATTENTION_KINDS)}")
    config_cls, module_cls = ATTENTION_KINDS[kind]
    config = config_cls(**(options or {}))
    return module_cls(config, num_heads=num_heads, head_dim=head_dim, layer_index=layer_index, seed=seed)


__all__ = ["ATTENTION_KINDS", "Attention", "AttentionOutput", "build_attention",
           "masked_softmax_attention", "DenseAttention", "DenseAttentionConfig"]
