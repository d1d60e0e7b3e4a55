"""Dense softmax attention through ``scaled_dot_product_attention``: the reference for every kind.

Axes: B batch, H heads, L tokens, D head width, c query rows. Memory O(L^2) when probabilities are
asked for; :meth:`DenseAttention.attention_rows` gives them c rows at a time in O(c·L).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from seqformer.attention.base import (Attention, AttentionOutput, check_rows, masked_softmax_attention,
                                      masked_softmax_rows)


@dataclass(frozen=True)
class DenseAttentionConfig:
    """Dense attention has no options of its own."""


class DenseAttention(Attention):
    """Full softmax attention over every real key."""

    returns_attention = True

    def __init__(self, config: DenseAttentionConfig | None = None, *, num_heads: int = 1,
                 head_dim: int = 1, layer_index: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.config = config or DenseAttentionConfig()

    def forward(self, q, k, v, key_padding_mask=None, need_weights=False) -> AttentionOutput:
        allowed = None if key_padding_mask is None else key_padding_mask[:, None, None, :]  # (B, 1, 1, L)
        if need_weights:
            out, probs = masked_softmax_attention(q, k, v, allowed)
            return AttentionOutput(out=out, probs=probs)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        if key_padding_mask is not None:
            # A sequence that is all padding gives NaN rows in SDPA; make them zero.
            out = out.masked_fill(~key_padding_mask.any(dim=1)[:, None, None, None], 0.0)
        return AttentionOutput(out=out, probs=None)

    def attention_rows(self, q, k, key_padding_mask=None, *, start, stop) -> torch.Tensor:
        """Rows start:stop (B, H, c, L) of the need_weights probabilities: softmax over every real key."""
        check_rows(q, start, stop)
        allowed = None if key_padding_mask is None else key_padding_mask[:, None, None, :]  # (B, 1, 1, L)
        return masked_softmax_rows(q[:, :, start:stop], k, allowed)
