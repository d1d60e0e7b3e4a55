"""The interface every attention kind implements.

Axes: B batch, H heads, L tokens (queries and keys), D head width.
An attention module maps queries, keys and values of shape (B, H, L, D) and a key padding mask
of shape (B, L) (True = real token, False = padding) to an output of shape (B, H, L, D).
Projections (Q/K/V/output) live in the encoder block, not here.

A kind's config dataclass may define ``check_encoder(num_heads=H, max_length=L)``: the encoder
config calls it, so settings that cannot work with the model's heads or longest input (a window
wider than the sequence, more landmarks than tokens) fail when the model is configured.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn


@dataclass
class AttentionOutput:
    """What an attention module returns."""

    out: torch.Tensor  # (B, H, L, D)
    probs: torch.Tensor | None = None  # (B, H, L, L) attention probabilities, when asked and supported


class Attention(nn.Module):
    """Base class: subclasses implement :meth:`forward` with this signature."""

    #: Whether ``forward(..., need_weights=True)`` can return attention probabilities.
    returns_attention: ClassVar[bool] = False
    #: Whether keys are tied to queries (Reformer): the encoder then projects only Q and V and
    #: passes its queries as ``k`` too.
    shared_qk: ClassVar[bool] = False

    def last_choices(self) -> object | None:
        """Discrete choices of the last forward pass that inputs alone may not fix on a recomputation
        (LSH buckets move when an input moves by rounding); None for kinds that make none."""
        return None

    def replay_choices(self, choices: object | None) -> None:
        """Make the following forward passes reuse ``choices`` from :meth:`last_choices` (None: choose afresh)."""

    def attention_rows(
        self,
        q: torch.Tensor,  # (B, H, L, D)
        k: torch.Tensor,  # (B, H, L, D)
        key_padding_mask: torch.Tensor | None = None,  # (B, L) bool, True = real token
        *,
        start: int,
        stop: int,
    ) -> torch.Tensor:
        """Rows ``start:stop`` of the probabilities ``forward(..., need_weights=True)`` returns: (B, H, c, L).

        c = stop - start query rows against every key, built without the (B, H, L, L) tensor
        (memory O(B·H·c·L)), so long inputs can be read a chunk of queries at a time. The rows
        equal the full matrix's to fp32 rounding. Kinds without an attention matrix raise
        NotImplementedError.
        """
        raise NotImplementedError(f"attention {type(self).__name__} has no attention matrix to read rows of")

    def forward(
        self,
        q: torch.Tensor,  # (B, H, L, D)
        k: torch.Tensor,  # (B, H, L, D)
        v: torch.Tensor,  # (B, H, L, D)
        key_padding_mask: torch.Tensor | None = None,  # (B, L) bool, True = real token
        need_weights: bool = False,
    ) -> AttentionOutput:
        raise NotImplementedError


def masked_softmax_attention(
    q: torch.Tensor,  # (B, H, L, D)
    k: torch.Tensor,  # (B, H, S, D)
    v: torch.Tensor,  # (B, H, S, D)
    allowed: torch.Tensor | None = None,  # broadcastable to (B, H, L, S), True = may attend
) -> tuple[torch.Tensor, torch.Tensor]:
    """Naive dense softmax attention with an explicit boolean mask: the reference for tests.

    Rows with no allowed key get zero output and zero probabilities (never NaN).
    Returns (out (B, H, L, D), probs (B, H, L, S)).
    """
    probs = _masked_probs(q, k, allowed)
    out = torch.einsum("bhls,bhsd->bhld", probs, v.float())
    return out.to(v.dtype), probs.to(v.dtype)


def _masked_probs(q: torch.Tensor, k: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """fp32 softmax probabilities (B, H, L, S) of q·kᵀ/√D under ``allowed``; rows with no allowed key are zero."""
    scores = torch.einsum("bhld,bhsd->bhls", q.float(), k.float()) / q.shape[-1] ** 0.5
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    row_max = scores.amax(dim=-1, keepdim=True).clamp_min(torch.finfo(scores.dtype).min)
    weights = torch.exp(scores - row_max)
    denom = weights.sum(dim=-1, keepdim=True)
    return torch.where(denom > 0, weights / denom.clamp_min(1e-30), torch.zeros_like(weights))


def masked_softmax_rows(
    q: torch.Tensor,  # (B, H, c, D): a block of query rows
    k: torch.Tensor,  # (B, H, S, D)
    allowed: torch.Tensor | None = None,  # broadcastable to (B, H, c, S), True = may attend
) -> torch.Tensor:
    """The probabilities (B, H, c, S) of :func:`masked_softmax_attention` for these query rows, in q's dtype.

    The same fp32 steps as there (rows with no allowed key are zero), without the values.
    """
    return _masked_probs(q, k, allowed).to(q.dtype)


def check_rows(q: torch.Tensor, start: int, stop: int) -> None:
    """ValueError unless ``start:stop`` is a non-empty block of the L query rows of q (B, H, L, D)."""
    length = q.shape[2]
    if not 0 <= start < stop <= length:
        raise ValueError(f"query rows {start}:{stop} are not a non-empty block of the {length} rows")


def check_inputs(kind: str, q: torch.Tensor, key_padding_mask: torch.Tensor | None, *, num_heads: int,
                 head_dim: int, need_weights: bool = False, max_weights_length: int | None = None) -> None:
    """Raise ValueError unless q is (B, num_heads, L, head_dim), the mask (B, L), and L allows weights."""
    batch, heads, length, dim = q.shape
    if heads != num_heads or dim != head_dim:
        raise ValueError(f"{kind} expects (B, {num_heads}, L, {head_dim}) inputs, got {tuple(q.shape)}")
    if key_padding_mask is not None and key_padding_mask.shape != (batch, length):
        raise ValueError(f"key_padding_mask must be (B, L) = {(batch, length)}, got {tuple(key_padding_mask.shape)}")
    if need_weights and max_weights_length is not None and length > max_weights_length:
        raise ValueError(f"need_weights=True builds a dense (B, H, L, L) tensor; L={length} is above "
                         f"max_weights_length={max_weights_length}")


HALF_DTYPES = (torch.float16, torch.bfloat16)


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a kind computes in: float32 for fp16/bf16 inputs, else the input's own."""
    return torch.float32 if dtype in HALF_DTYPES else dtype


def require_int(kind: str, name: str, value: object, low: int) -> None:
    """ValueError unless ``value`` is an integer (not a bool) >= ``low``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{kind} {name} must be an integer >= {low}, got {value!r}")


def seeded_generator(*parts: object) -> torch.Generator:
    """A CPU generator seeded by a hash of ``parts`` (e.g. kind, seed, layer index)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)


def zero_padded_queries(out: torch.Tensor, key_padding_mask: torch.Tensor | None) -> torch.Tensor:
    """out (B, H, L, D) with the rows of padded tokens set to zero."""
    return out if key_padding_mask is None else out.masked_fill(~key_padding_mask.bool()[:, None, :, None], 0.0)
