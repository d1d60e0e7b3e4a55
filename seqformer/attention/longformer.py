"""Longformer attention: a token-level sliding window (dilated per head) plus global tokens; exact.

Axes: B batch, H heads, L tokens, D head width; w the one-sided window, d a head's dilation, G the
number of global positions, c queries per chunk, S = G + c + 2w keys per chunk.

Query i of a head with dilation d attends to the keys i + j·d for j = -w..w that lie inside the
input and are real, and to every global position; a global query attends to every real key.
Global positions are fixed token indices (``(0,)`` = the [CLS] token): those at or past the
input's length are ignored, and one that is padding in a sequence is not attended there, so
appending padding never changes real outputs. Padded queries give zeros. The output equals dense
attention under that token mask (:func:`longformer_mask` with :func:`masked_softmax_attention`)
to fp32 rounding.

Linear in L: the heads of dilation d see their input as d interleaved subsequences (positions r,
r + d, r + 2d, ...), on which the dilated window is a plain window of ±w. Each subsequence is cut
into chunks of c queries; a chunk attends to its c + 2w neighbouring keys and the G global keys
(a global key inside the window is counted once) through ``scaled_dot_product_attention`` with a
boolean (c, S) mask per chunk shared by the heads. The G global query rows then run over all L
keys. Memory O(L·S) per head; nothing L x L is built unless probabilities are asked for (short
inputs only; they come from the dense reference under the same mask;
:meth:`LongformerAttention.attention_rows` gives c query rows of them at a time under
:func:`longformer_mask_rows`, in O(c·L)). Unlike the paper, global and window attention share the
block's Q/K/V projections (no separate global projections).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from seqformer.attention.base import (Attention, AttentionOutput, check_inputs, check_rows, masked_softmax_attention,
                                      masked_softmax_rows, require_int, working_dtype, zero_padded_queries)

MIN_CHUNK = 64  # c = max(w, MIN_CHUNK) queries per chunk: narrow windows still get wide matmuls


@dataclass(frozen=True)
class LongformerAttentionConfig:
    """Options of Longformer sliding-window + global attention."""

    window: int = 128  # w: one-sided window; query i sees keys i - w·d .. i + w·d (the paper's attention_window = 2w)
    dilation: tuple[int, ...] = (1,)  # d of each head: one value for every head, or one per head
    global_tokens: tuple[int, ...] = (0,)  # token positions with global attention; (0,) = [CLS], () = none
    max_weights_length: int = 4096  # need_weights=True refuses longer inputs (it builds (B, H, L, L))

    def __post_init__(self) -> None:
        for name in ("dilation", "global_tokens"):  # JSON gives lists
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"longformer {name} must be a list of integers, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        require_int("longformer", "window", self.window, 0)
        require_int("longformer", "max_weights_length", self.max_weights_length, 1)
        if not self.dilation:
            raise ValueError("longformer dilation needs at least one value (1 = no dilation)")
        for value in self.dilation:
            require_int("longformer", "dilation", value, 1)
        for value in self.global_tokens:
            require_int("longformer", "global_tokens position", value, 0)
        if len(set(self.global_tokens)) != len(self.global_tokens):
            raise ValueError(f"longformer global_tokens has repeated positions: {list(self.global_tokens)}")

    def head_dilations(self, num_heads: int) -> tuple[int, ...]:
        """The dilation of each of ``num_heads`` heads."""
        if len(self.dilation) not in (1, num_heads):
            raise ValueError(f"longformer dilation needs 1 value or one per head ({num_heads}), "
                             f"got {len(self.dilation)}: {list(self.dilation)}")
        return self.dilation * num_heads if len(self.dilation) == 1 else self.dilation

    def check_encoder(self, *, num_heads: int, max_length: int) -> None:
        """ValueError for a window that covers the longest input or a global position past it."""
        span = self.window * max(self.head_dilations(num_heads))
        if span >= max_length:
            raise ValueError(f"longformer window {self.window} x dilation {max(self.dilation)} = {span} tokens "
                             f"each side is not shorter than max_length {max_length}: every query would see "
                             "the whole input; use a smaller window, or attention 'dense'")
        beyond = [p for p in self.global_tokens if p >= max_length]
        if beyond:
            raise ValueError(f"longformer global_tokens {beyond} are not below max_length {max_length}")


def longformer_mask(config: LongformerAttentionConfig, num_heads: int, length: int,
                    key_padding_mask: torch.Tensor | None = None, device=None) -> torch.Tensor:
    """The token mask (B or 1, H, L, L), True = query i may attend key j: the dense reference's."""
    i = torch.arange(length, device=device)[:, None]
    diff = i - i.T  # (L, L)
    dilation = torch.tensor(config.head_dilations(num_heads), device=device)[:, None, None]  # (H, 1, 1)
    allowed = (diff.abs() <= config.window * dilation) & (diff % dilation == 0)  # (H, L, L)
    is_global = torch.zeros(length, dtype=torch.bool, device=device)
    is_global[[p for p in config.global_tokens if p < length]] = True
    allowed = (allowed | is_global[:, None] | is_global[None, :])[None]  # (1, H, L, L)
    if key_padding_mask is not None:
        real = key_padding_mask.bool()
        allowed = allowed & real[:, None, :, None] & real[:, None, None, :]
    return allowed


def longformer_mask_rows(config: LongformerAttentionConfig, num_heads: int, length: int, start: int, stop: int,
                         key_padding_mask: torch.Tensor | None = None, device=None) -> torch.Tensor:
    """Rows start:stop (B or 1, H, c, L) of :func:`longformer_mask`, built without the L x L mask."""
    i = torch.arange(start, stop, device=device)[:, None]
    diff = i - torch.arange(length, device=device)[None, :]  # (c, L)
    dilation = torch.tensor(config.head_dilations(num_heads), device=device)[:, None, None]  # (H, 1, 1)
    allowed = (diff.abs() <= config.window * dilation) & (diff % dilation == 0)  # (H, c, L)
    is_global = torch.zeros(length, dtype=torch.bool, device=device)
    is_global[[p for p in config.global_tokens if p < length]] = True
    allowed = (allowed | is_global[start:stop, None] | is_global[None, :])[None]  # (1, H, c, L)
    if key_padding_mask is not None:
        real = key_padding_mask.bool()
        allowed = allowed & real[:, None, start:stop, None] & real[:, None, None, :]
    return allowed


def _interleave(x: torch.Tensor, dilation: int, padded: int) -> torch.Tensor:
    """(h, B, L, D) → (h, B, d, padded / d, D): subsequence r holds positions r, r + d, r + 2d, ..."""
    heads, batch, length, dim = x.shape
    x = F.pad(x, (0, 0, 0, padded - length))
    return x.view(heads, batch, padded // dilation, dilation, dim).transpose(2, 3)


def window_attention(q, k, v, *, dilation: int, window: int, real: torch.Tensor | None,
                     global_positions: list[int]) -> torch.Tensor:
    """Window + global-key attention of every query: q, k, v (h, B, L, D) → (h, B, L, D).

    ``real`` (B, L) bool or None. Rows of global queries are not final here (they see only the
    window and the global keys); :meth:`LongformerAttention.forward` overwrites them.
    """
    heads, batch, length, dim = q.shape
    device, w = q.device, window
    chunk = max(w, MIN_CHUNK)
    per = -(-length // dilation)  # tokens per subsequence
    chunks = -(-per // chunk)
    span = chunk + 2 * w
    padded = chunks * chunk * dilation
    position = (torch.arange(chunks * chunk, device=device) * dilation
                + torch.arange(dilation, device=device)[:, None])  # (d, nc·c) original position
    inside = position < length
    is_global = torch.zeros(length + 1, dtype=torch.bool, device=device)
    is_global[global_positions] = True
    key_ok = inside & ~is_global[position.clamp_max(length)]  # (d, nc·c)
    if real is not None:
        key_ok = key_ok & real[:, position.clamp_max(length - 1)]  # (B, d, nc·c)
    key_ok = F.pad(key_ok.expand(batch, -1, -1), (w, w), value=False).unfold(-1, span, chunk)  # (B, d, nc, S')
    t = torch.arange(chunk, device=device)[:, None]
    band = (torch.arange(span, device=device) - w - t).abs() <= w  # (c, c + 2w)
    allowed = band & key_ok[..., None, :]  # (B, d, nc, c, c + 2w)

    def windows(x):  # (h, B, L, D) → (h, B, d, nc, c + 2w, D)
        x = F.pad(_interleave(x, dilation, padded), (0, 0, w, w))
        return x.unfold(3, span, chunk).transpose(-1, -2)

    keys, values = windows(k), windows(v)
    if global_positions:
        count = len(global_positions)
        grow = (heads, batch, dilation, chunks, count, dim)
        keys = torch.cat([k[:, :, global_positions, None, None].transpose(2, 4).expand(grow), keys], dim=-2)
        values = torch.cat([v[:, :, global_positions, None, None].transpose(2, 4).expand(grow), values], dim=-2)
        global_ok = torch.ones(batch, count, dtype=torch.bool, device=device) if real is None \
            else real[:, global_positions]
        allowed = torch.cat([global_ok[:, None, None, None, :].expand(-1, dilation, chunks, chunk, -1), allowed], -1)
    allowed = allowed | ~allowed.any(-1, keepdim=True)  # rows of padding: any finite row (zeroed later)
    rows = batch * dilation * chunks
    out = F.scaled_dot_product_attention(
        _interleave(q, dilation, padded).reshape(heads, rows, chunk, dim),
        keys.reshape(heads, rows, -1, dim), values.reshape(heads, rows, -1, dim),
        attn_mask=allowed.reshape(1, rows, chunk, -1))  # (h, B·d·nc, c, D)
    out = out.view(heads, batch, dilation, chunks * chunk, dim).transpose(2, 3)
    return out.reshape(heads, batch, padded, dim)[:, :, :length]


class LongformerAttention(Attention):
    """Sliding-window attention with per-head dilation and global token positions."""

    returns_attention = True

    def __init__(self, config: LongformerAttentionConfig | None = None, *, num_heads: int, head_dim: int,
                 layer_index: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.config = config or LongformerAttentionConfig()
        self.num_heads, self.head_dim, self.layer_index = num_heads, head_dim, layer_index
        self.dilations = self.config.head_dilations(num_heads)

    def extra_repr(self) -> str:
        c = self.config
        return f"window={c.window}, dilation={list(self.dilations)}, global_tokens={list(c.global_tokens)}"

    def forward(self, q, k, v, key_padding_mask=None, need_weights=False) -> AttentionOutput:
        check_inputs("longformer", q, key_padding_mask, num_heads=self.num_heads, head_dim=self.head_dim,
                     need_weights=need_weights, max_weights_length=self.config.max_weights_length)
        length, dtype = q.shape[2], q.dtype
        real = None if key_padding_mask is None else key_padding_mask.bool()
        if need_weights:
            allowed = longformer_mask(self.config, self.num_heads, length, real, q.device)
            out, probs = masked_softmax_attention(q, k, v, allowed)  # padded queries: zero rows
            return AttentionOutput(out=out, probs=probs)
        glob = [p for p in self.config.global_tokens if p < length]
        with torch.autocast(q.device.type, enabled=False):  # fp32 scores and sums under half precision
            work = working_dtype(dtype)
            q, k, v = (x.to(work).transpose(0, 1) for x in (q, k, v))  # (H, B, L, D)
            parts = []
            for dilation in sorted(set(self.dilations)):
                heads = [h for h, d in enumerate(self.dilations) if d == dilation]
                pick = slice(None) if len(heads) == self.num_heads else heads
                parts.append((heads, window_attention(q[pick], k[pick], v[pick], dilation=dilation,
                                                      window=self.config.window, real=real,
                                                      global_positions=glob)))
            out = parts[0][1] if len(parts) == 1 else torch.cat([part for _, part in parts]).index_select(
                0, torch.tensor([h for heads, _ in parts for h in heads], device=q.device).argsort())
            out = out.transpose(0, 1)  # (B, H, L, D)
            if glob:
                out = out.index_copy(2, torch.tensor(glob, device=q.device),
                                     _global_rows(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1),
                                                  glob, real))
        return AttentionOutput(out=zero_padded_queries(out, real).to(dtype))

    def attention_rows(self, q, k, key_padding_mask=None, *, start, stop) -> torch.Tensor:
        """Rows start:stop (B, H, c, L) of the need_weights probabilities: softmax under the rows' mask."""
        check_inputs("longformer", q, key_padding_mask, num_heads=self.num_heads, head_dim=self.head_dim)
        check_rows(q, start, stop)
        allowed = longformer_mask_rows(self.config, self.num_heads, q.shape[2], start, stop, key_padding_mask,
                                       q.device)
        return masked_softmax_rows(q[:, :, start:stop], k, allowed)


def _global_rows(q, k, v, glob: list[int], real: torch.Tensor | None) -> torch.Tensor:
    """Rows (B, H, G, D) of the global queries: attention over every real key (q, k, v (B, H, L, D))."""
    if real is None:
        return F.scaled_dot_product_attention(q[:, :, glob], k, v)
    allowed = real | ~real.any(-1, keepdim=True)  # an all-padding sequence: any finite row (zeroed later)
    return F.scaled_dot_product_attention(q[:, :, glob], k, v, attn_mask=allowed[:, None, None, :])
