"""Nyströmformer: softmax attention through m segment-mean landmarks, linear in L.

Axes: B batch, H heads, L tokens, D head width, m landmarks (``num_landmarks``), K the kernel of
the depthwise convolution.

    out = softmax(Q K̃ᵀ/√D) · pinv(softmax(Q̃ K̃ᵀ/√D)) · softmax(Q̃ Kᵀ/√D) · V  +  conv_K(V)

Landmarks Q̃, K̃ (B, H, m, D) are the means of m consecutive segments of the *real* tokens of each
sequence: with n real tokens, token t (0-based among them) falls in segment ⌊t·m / n⌋, so segments
hold ⌊n/m⌋ or ⌈n/m⌉ tokens and any n works, divisible by m or not (no internal padding).

A sequence with n ≤ m real tokens gets exact softmax attention, computed directly (as Hugging
Face's Nyströmformer does when the length equals the landmarks): there every token would be its
own landmark and the formula equals softmax attention only as far as the pseudo-inverse has
converged (1.9–9% error at the default 6 iterations). The choice is per sequence, so a sequence's
output never depends on what it is batched with; longer sequences in the same batch take the
Nyström path. The pseudo-inverse is the paper's iteration
Z ← ¼ Z (13 I − A Z (15 I − A Z (7 I − A Z))) from Z₀ = Aᵀ / (‖A‖₁ ‖A‖∞), with the norms of each
(sequence, head) matrix (the paper takes the batch max, which would couple sequences).
Padded keys are out of the softmaxes and the landmarks, padded values are zeroed before the
convolution, padded queries give zeros: appending padding never changes real outputs.

The skip conv_K(V) is a depthwise convolution over tokens, one K-tap filter per head (a parameter
of shape (H, 1, K, 1) as in the paper's Conv2d,
zero-initialised so that a new model starts as the pure Nyström approximation; 0 = no skip).
Time and memory O(L·m·D); no L x L matrix, and no attention probabilities either: the implicit
matrix kernel₁·Z·kernel₃ is neither non-negative nor normalised (``returns_attention`` is False).
Everything is computed in fp32 under fp16/bf16.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from seqformer.attention.base import (Attention, AttentionOutput, check_inputs, require_int, working_dtype,
                                      zero_padded_queries)


@dataclass(frozen=True)
class NystromformerConfig:
    """Options of Nyström landmark attention."""

    num_landmarks: int = 64  # m: segment-mean landmarks per sequence and head
    pinv_iterations: int = 6  # iterations of the Moore–Penrose pseudo-inverse (the paper uses 6)
    conv_kernel: int = 33  # K: taps of the depthwise convolution skip on V (odd; 0 = no skip)

    def __post_init__(self) -> None:
        require_int("nystromformer", "num_landmarks", self.num_landmarks, 1)
        require_int("nystromformer", "pinv_iterations", self.pinv_iterations, 1)
        require_int("nystromformer", "conv_kernel", self.conv_kernel, 0)
        if self.conv_kernel and self.conv_kernel % 2 == 0:
            raise ValueError(f"nystromformer conv_kernel must be odd (centred on the token) or 0, "
                             f"got {self.conv_kernel}")

    def check_encoder(self, *, num_heads: int, max_length: int) -> None:
        """ValueError for more landmarks than the longest input has tokens."""
        if self.num_landmarks > max_length:
            raise ValueError(f"nystromformer num_landmarks {self.num_landmarks} is larger than max_length "
                             f"{max_length}: there cannot be more landmarks than tokens")


def segment_ids(key_padding_mask: torch.Tensor | None, batch: int, length: int, landmarks: int,
                device=None) -> torch.Tensor:
    """Segment of every token (B, L): ⌊t·m / n⌋ for the t-th real token of n; m for padding."""
    if key_padding_mask is None:
        rank = torch.arange(length, device=device).expand(batch, length)
        return rank * landmarks // length
    real = key_padding_mask.bool()
    rank = real.long().cumsum(-1) - 1  # (B, L) index among the real tokens
    count = real.sum(-1, keepdim=True).clamp_min(1)
    return torch.where(real, rank * landmarks // count, landmarks)


def segment_means(x: torch.Tensor, segments: torch.Tensor, landmarks: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Means (B, H, m, D) of x (B, H, L, D) over each segment, and which segments are non-empty (B, m)."""
    batch, heads, _, dim = x.shape
    index = segments[:, None, :, None].expand_as(x)
    sums = x.new_zeros(batch, heads, landmarks + 1, dim).scatter_add_(2, index, x)[:, :, :landmarks]
    counts = torch.zeros(batch, landmarks + 1, device=x.device).scatter_add_(
        1, segments, torch.ones(segments.shape, device=x.device))[:, :landmarks]
    return sums / counts.clamp_min(1)[:, None, :, None].to(x.dtype), counts > 0


def iterative_pinv(a: torch.Tensor, iterations: int) -> torch.Tensor:
    """Moore–Penrose pseudo-inverse of a (..., m, m) by the Nyströmformer iteration (per matrix norms)."""
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    col = a.abs().sum(-2).amax(-1)[..., None, None]  # ‖A‖₁
    row = a.abs().sum(-1).amax(-1)[..., None, None]  # ‖A‖∞
    z = a.transpose(-1, -2) / (col * row)
    for _ in range(iterations):
        az = a @ z
        z = 0.25 * z @ (13 * eye - az @ (15 * eye - az @ (7 * eye - az)))
    return z


def _masked_softmax(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis of the allowed entries (a row with none comes out uniform: callers
    overwrite or zero such rows). One fused softmax: it keeps only its output for backward."""
    return torch.softmax(scores.masked_fill(~allowed, torch.finfo(scores.dtype).min), dim=-1)


def depthwise_conv(v: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Each head's K-tap filter over tokens, zero-padded: v (B, H, L, D), weight (H, 1, K, 1) → (B, H, L, D)."""
    batch, heads, length, dim = v.shape
    kernel = weight.shape[2]
    channels = v.transpose(2, 3).reshape(batch, heads * dim, length)  # (B, H·D, L)
    out = F.conv1d(channels, weight.view(heads, 1, kernel).repeat_interleave(dim, 0), padding=kernel // 2,
                   groups=heads * dim)
    return out.view(batch, heads, dim, length).transpose(2, 3)


def exact_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, real: torch.Tensor | None) -> torch.Tensor:
    """Softmax attention (B, H, L, D) of q, k already scaled by D^-1/4 each, over the real keys.

    Only the span up to the last real token of any sequence is computed (the rest is padding), so
    short sequences in a long padded batch cost O(n²), not O(L²).
    """
    if real is None:
        return _masked_softmax(q @ k.transpose(-1, -2), torch.ones((), dtype=torch.bool, device=q.device)) @ v
    span = int(real.any(0).nonzero().max()) + 1 if bool(real.any()) else 1
    out = torch.zeros_like(v)
    keys = real[:, None, None, :span]  # (B, 1, 1, span)
    out[:, :, :span] = _masked_softmax(q[:, :, :span] @ k[:, :, :span].transpose(-1, -2), keys) @ v[:, :, :span]
    return out


class NystromAttention(Attention):
    """Nyström approximation of softmax attention with the depthwise-convolution skip on V."""

    returns_attention = False

    def __init__(self, config: NystromformerConfig | None = None, *, num_heads: int, head_dim: int,
                 layer_index: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.config = config or NystromformerConfig()
        self.num_heads, self.head_dim, self.layer_index = num_heads, head_dim, layer_index
        kernel = self.config.conv_kernel
        # (H, 1, K, 1): filter of head h over tokens, shared by its D channels (Conv2d, groups=H)
        self.conv_weight = nn.Parameter(torch.zeros(num_heads, 1, kernel, 1)) if kernel else None

    def extra_repr(self) -> str:
        c = self.config
        return f"num_landmarks={c.num_landmarks}, pinv_iterations={c.pinv_iterations}, conv_kernel={c.conv_kernel}"

    def forward(self, q, k, v, key_padding_mask=None, need_weights=False) -> AttentionOutput:
        check_inputs("nystromformer", q, key_padding_mask, num_heads=self.num_heads, head_dim=self.head_dim)
        if need_weights:
            raise ValueError("nystromformer cannot return attention probabilities (returns_attention is False)")
        batch, _, length, _ = q.shape
        dtype, m = q.dtype, self.config.num_landmarks
        real = None if key_padding_mask is None else key_padding_mask.bool()
        with torch.autocast(q.device.type, enabled=False):  # landmarks, softmaxes and pinv in fp32
            work = working_dtype(dtype)
            scale = self.head_dim ** -0.25
            q, k, v = q.to(work) * scale, k.to(work) * scale, v.to(work)
            if real is not None:
                v = v.masked_fill(~real[:, None, :, None], 0.0)
            counts = torch.full((batch,), length, device=q.device) if real is None else real.sum(-1)
            short = counts <= m  # (B,) sequences that get exact softmax attention
            if bool(short.all()):
                out = exact_attention(q, k, v, real)
            elif not bool(short.any()):
                out = self._nystrom(q, k, v, real)
            else:
                out = torch.zeros_like(v)
                out[~short] = self._nystrom(q[~short], k[~short], v[~short], real[~short])
                out[short] = exact_attention(q[short], k[short], v[short], real[short])
            if self.conv_weight is not None:
                out = out + depthwise_conv(v, self.conv_weight.to(work))
        return AttentionOutput(out=zero_padded_queries(out, real).to(dtype))

    def _nystrom(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, real: torch.Tensor | None) -> torch.Tensor:
        """The Nyström approximation (B, H, L, D) of scaled q, k (each by D^-1/4) and zero-padded v."""
        batch, _, length, _ = q.shape
        m, work = self.config.num_landmarks, q.dtype
        segments = segment_ids(real, batch, length, m, q.device)
        q_land, valid = segment_means(q, segments, m)  # (B, H, m, D), (B, m)
        k_land, _ = segment_means(k, segments, m)
        cols = valid[:, None, None, :]  # (B, 1, 1, m)
        kernel1 = _masked_softmax(q @ k_land.transpose(-1, -2), cols)  # (B, H, L, m)
        eye = torch.eye(m, dtype=torch.bool, device=q.device)
        inner = _masked_softmax(q_land @ k_land.transpose(-1, -2), cols)  # (B, H, m, m)
        inner = torch.where(valid[:, None, :, None], inner, eye.to(work))  # empty landmarks: identity rows
        keys = torch.ones(batch, 1, 1, length, dtype=torch.bool, device=q.device) \
            if real is None else real[:, None, None, :]
        kernel3 = _masked_softmax(q_land @ k.transpose(-1, -2), keys) * valid[:, None, :, None]  # (B, H, m, L)
        return kernel1 @ (iterative_pinv(inner, self.config.pinv_iterations) @ (kernel3 @ v))
