"""A Transformer encoder over token ids, with any attention kind, pre-LN (default) or post-LN blocks.

Axes: B batch, L tokens, D width (``hidden_size``), H heads, Dh = D / H head width.
Built one concept at a time: rotary positions → self-attention → MLP → block → embeddings → encoder.
The encoder maps ``input_ids`` (B, L) and ``attention_mask`` (B, L) (True = real token) to
``last_hidden_state`` (B, L, D); ``inputs_embeds`` (B, L, D) may stand in for the token embedding
lookup (HF style), e.g. embeddings made differentiable in a one-hot input
(:mod:`seqformer.analysis.attribution`). Padding must be on the right: positions count from 0 at
the first token, and the attention kinds keep padded keys away from real queries, so appending
padding leaves the real tokens' outputs unchanged.

The default is the pre-LN rotary encoder ``seqformer pretrain`` trains. Config fields switch on the
layouts of imported checkpoints (:mod:`seqformer.convert`): post-LN blocks and no final LayerNorm
(BERT, BigBird), a learned position table read from row ``position_offset`` (ESM absolute: 2;
BERT: 0), a LayerNorm on the embeddings, a scale on the token embeddings (BigBird), ESM-2's token
dropout, and the tanh GELU. The embeddings are ``embed(ids) * embedding_scale`` → token dropout →
``+ position_embed(position_offset + i)`` → ``embed_norm``; that is ``hidden_states[0]``.

Memory options: ``reversible`` composes the same blocks as RevNet two-stream blocks whose
activations are recomputed in the backward pass (:mod:`seqformer.models.reversible`);
``ffn_chunk_size`` runs each MLP over chunks of tokens (token-wise, so the outputs are the same).
For a shared-QK kind (Reformer) the block projects only Q and V and passes its queries as keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqformer.attention import build_attention
from seqformer.models.config import EncoderConfig
from seqformer.models.pretrained import PretrainedModel
from seqformer.models.reversible import reversible_stack, two_stream_forward

INIT_STD = 0.02  # std of the normal init of embeddings and linear weights (BERT/GPT-2 style)
TOKEN_DROPOUT_TRAIN_RATIO = 0.15 * 0.8  # ESM-2's share of <mask> tokens in training: 15% masked, 80% of those <mask>


def activation(name: str, x: torch.Tensor) -> torch.Tensor:
    """The config's activation on x: "gelu" (exact, erf) or "gelu_tanh" (the tanh approximation)."""
    return F.gelu(x, approximate="tanh" if name == "gelu_tanh" else "none")


def _init_linear(layer: nn.Linear) -> nn.Linear:
    """Normal(0, INIT_STD) weights and zero bias."""
    nn.init.normal_(layer.weight, std=INIT_STD)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


class Rotary(nn.Module):
    """Rotary position embedding (RoFormer): pair (x_2i, x_2i+1) turns by position * base^(-2i/Dh)."""

    def __init__(self, head_dim: int, base: float) -> None:
        super().__init__()
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)  # (Dh/2,)
        self.register_buffer("inv_freq", inv_freq.float(), persistent=False)

    def forward(self, length: int) -> torch.Tensor:
        """Unit complex rotations for positions 0..L-1, (L, Dh/2): computed once, shared by all layers."""
        positions = torch.arange(length, device=self.inv_freq.device, dtype=torch.float32)
        angles = torch.outer(positions, self.inv_freq)  # (L, Dh/2)
        return torch.polar(torch.ones_like(angles), angles)


def apply_rotary(x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Rotate the pairs (x_2i, x_2i+1) of x (B, L, ..., Dh) by ``rotation`` (L, Dh/2) complex.

    float32/float64 take one complex multiply (one pass forward, one backward); other dtypes
    (bf16, fp16, which have no complex view) take the same rotation in real arithmetic.
    """
    pairs = x.unflatten(-1, (-1, 2))  # (B, L, ..., Dh/2, 2)
    rotation = rotation.view(rotation.shape[0], *[1] * (x.dim() - 3), rotation.shape[1])  # (L, 1.., Dh/2)
    if x.dtype in (torch.float32, torch.float64):
        return torch.view_as_real(torch.view_as_complex(pairs) * rotation.to(x.dtype.to_complex())).flatten(-2)
    cos, sin = rotation.real.to(x.dtype), rotation.imag.to(x.dtype)
    even, odd = pairs.unbind(-1)
    return torch.stack((even * cos - odd * sin, odd * cos + even * sin), dim=-1).flatten(-2)


class SelfAttention(nn.Module):
    """Fused QKV projection → rotary → the attention kind → output projection.

    A shared-QK kind (``attention.shared_qk``) gets a fused QV projection (2·D outputs, still
    named ``qkv``) and its rotated queries as keys.
    """

    def __init__(self, config: EncoderConfig, layer_index: int) -> None:
        super().__init__()
        self.num_heads, self.head_dim = config.num_heads, config.head_dim
        self.attention = build_attention(config.attention, config.attention_options,
                                         num_heads=config.num_heads, head_dim=config.head_dim,
                                         layer_index=layer_index, seed=config.seed)
        self.projections = 2 if self.attention.shared_qk else 3  # q(k)v
        self.qkv = _init_linear(nn.Linear(config.hidden_size, self.projections * config.hidden_size))
        self.proj = _init_linear(nn.Linear(config.hidden_size, config.hidden_size))
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, rotation: torch.Tensor | None,
                key_padding_mask: torch.Tensor | None, need_weights: bool
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, L, D) → (out (B, L, D), probs (B, H, L, L) or None)."""
        B, L, D = x.shape
        n = self.projections
        qkv = self.qkv(x).view(B, L, n, self.num_heads, self.head_dim)  # (B, L, 3 or 2, H, Dh)
        qk = apply_rotary(qkv[:, :, :n - 1], rotation) if rotation is not None else qkv[:, :, :n - 1]
        q, k = (qk[:, :, 0], qk[:, :, 0]) if n == 2 else qk.unbind(2)  # rotary: q and k in one pass
        v = qkv[:, :, n - 1]
        # (B, L, H, Dh) → (B, H, L, Dh) as strided views: no copies here.
        result = self.attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                key_padding_mask=key_padding_mask, need_weights=need_weights)
        out = result.out.transpose(1, 2).reshape(B, L, D)  # (B, L, D)
        return self.dropout(self.proj(out)), result.probs


class MLP(nn.Module):
    """Linear → GELU (exact or tanh, ``config.activation``) → linear, applied to every token."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.fc_in = _init_linear(nn.Linear(config.hidden_size, config.ffn_size))
        self.fc_out = _init_linear(nn.Linear(config.ffn_size, config.hidden_size))
        self.dropout = nn.Dropout(config.dropout)
        self.activation = config.activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, D) → (B, L, D)."""
        return self.dropout(self.fc_out(activation(self.activation, self.fc_in(x))))


class Block(nn.Module):
    """Transformer block. Pre-LN (default): x + F(x), then x + G(x), with F = attention(norm(·)),
    G = MLP(norm(·)). Post-LN (``norm="post"``, BERT): x = norm_attention(x + attention(x)), then
    x = norm_mlp(x + MLP(x)); the same modules and parameter names either way.

    A reversible encoder composes the pre-LN branches differently (:mod:`seqformer.models.reversible`).
    """

    def __init__(self, config: EncoderConfig, layer_index: int) -> None:
        super().__init__()
        self.norm_attention = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = SelfAttention(config, layer_index)
        self.norm_mlp = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = MLP(config)
        self.ffn_chunk_size = config.ffn_chunk_size
        self.post_norm = config.norm == "post"

    def attend(self, x, rotation, key_padding_mask, need_weights):
        """F: x (B, L, D) → (attention(norm(x)) (B, L, D), probs (B, H, L, L) or None)."""
        return self.attention(self.norm_attention(x), rotation, key_padding_mask, need_weights)

    def _chunked(self, branch, x: torch.Tensor) -> torch.Tensor:
        """A token-wise ``branch`` over chunks of ``ffn_chunk_size`` tokens when set (the same values)."""
        chunk = self.ffn_chunk_size
        if chunk is None or x.shape[1] <= chunk:
            return branch(x)
        return torch.cat([branch(part) for part in x.split(chunk, dim=1)], dim=1)

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        """G: MLP(norm(x)) (B, L, D), over chunks of ``ffn_chunk_size`` tokens when set (token-wise: same values)."""
        return self._chunked(lambda part: self.mlp(self.norm_mlp(part)), x)

    def forward(self, x, rotation, key_padding_mask, need_weights):
        """x (B, L, D) → (x (B, L, D), probs (B, H, L, L) or None)."""
        if self.post_norm:
            attended, probs = self.attention(x, rotation, key_padding_mask, need_weights)
            x = self.norm_attention(x + attended)
            x = self._chunked(lambda part: self.norm_mlp(part + self.mlp(part)), x)
            return x, probs
        attended, probs = self.attend(x, rotation, key_padding_mask, need_weights)
        x = x + attended
        x = x + self.feed_forward(x)
        return x, probs


def plain_forward(blocks: nn.ModuleList, x: torch.Tensor, rotation, key_padding_mask, need_weights: bool,
                  keep_hidden: bool) -> tuple[torch.Tensor, list[torch.Tensor], list]:
    """The ordinary residual stack: (final x (B, L, D), each block's output if kept, each block's probs)."""
    hidden, attentions = [], []
    for block in blocks:
        x, probs = block(x, rotation, key_padding_mask, need_weights)
        hidden += [x] if keep_hidden else []
        attentions.append(probs)
    return x, hidden, attentions


@dataclass
class EncoderOutput:
    """What :class:`SeqEncoder` returns; optional fields are None unless asked for."""

    last_hidden_state: torch.Tensor  # (B, L, D), after the final LayerNorm (when the config has one)
    # num_layers + 1 tensors (B, L, D): the embeddings (after positions and embed_norm), then each block's
    # output (reversible: (y1 + y2) / 2)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None  # num_layers tensors (B, H, L, L) of attention probabilities


def token_dropout_scale(input_ids: torch.Tensor, attention_mask: torch.Tensor | None, mask_id: int) -> torch.Tensor:
    """ESM-2's token-dropout factor per row, (B,) fp32: (1 - 0.15·0.8) / (1 - masks / real tokens).

    As in HF's EsmEmbeddings and fair-esm's ESM2, it applies at inference too (a row without
    <mask> is scaled by 0.88). The real tokens are the attention mask's True positions (all L
    without a mask). A row of masks only (factor 1/0) gets 1: its embeddings are all zero anyway.
    """
    masks = (input_ids == mask_id).sum(-1).float()  # (B,)
    real = attention_mask.sum(-1).float() if attention_mask is not None else torch.full_like(masks, input_ids.shape[1])
    kept = 1 - masks / real.clamp(min=1)
    return torch.where(kept > 0, (1 - TOKEN_DROPOUT_TRAIN_RATIO) / kept.clamp(min=1e-12), torch.ones_like(kept))


class SeqEncoder(PretrainedModel):
    """Embeddings → blocks → final LayerNorm (when configured). Carries its tokenizer (``.tokenizer``).

    Parameters by option: ``embed`` always; ``position_embed`` (rows max_length + position_offset)
    for learned positions; ``embed_norm`` with ``embedding_norm``; ``norm`` with ``final_norm``.
    """

    config_class = EncoderConfig

    def __init__(self, config: EncoderConfig, tokenizer: Any = None) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        nn.init.normal_(self.embed.weight, std=INIT_STD)
        self.position_embed = None
        if config.position == "learned":
            self.position_embed = nn.Embedding(config.max_length + config.position_offset, config.hidden_size)
            nn.init.normal_(self.position_embed.weight, std=INIT_STD)
        self.embed_norm = (nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
                           if config.embedding_norm else None)
        self.rotary = Rotary(config.head_dim, config.rope_base) if config.position == "rope" else None
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.num_layers))
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if config.final_norm else None

    def embed_tokens(self, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None,
                     inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """The blocks' input (B, L, D): scaled token embeddings, token dropout, positions, embed_norm.

        ``inputs_embeds`` (B, L, D) replaces the lookup ``embed(input_ids)``; everything after it
        applies the same. Token dropout needs the ids: it is skipped when ``input_ids`` is None.
        """
        config = self.config
        x = self.embed(input_ids) if inputs_embeds is None else inputs_embeds  # (B, L, D)
        if config.embedding_scale != 1.0:
            x = x * config.embedding_scale
        if config.token_dropout and input_ids is not None:
            x = x.masked_fill((input_ids == config.mask_id).unsqueeze(-1), 0.0)
            x = (x * token_dropout_scale(input_ids, attention_mask, config.mask_id)[:, None, None]).to(x.dtype)
        if self.position_embed is not None:
            positions = torch.arange(x.shape[1], device=x.device) + config.position_offset  # (L,)
            x = x + self.position_embed(positions)
        return self.embed_norm(x) if self.embed_norm is not None else x

    @property
    def returns_attention(self) -> bool:
        """Whether ``output_attentions=True`` is supported by this model's attention kind."""
        return all(block.attention.attention.returns_attention for block in self.blocks)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                output_hidden_states: bool = False, output_attentions: bool = False, *,
                inputs_embeds: torch.Tensor | None = None) -> EncoderOutput:
        """input_ids (B, L) long, attention_mask (B, L) bool or 0/1 (True = real token, right padding).

        ``inputs_embeds`` (B, L, D): token embeddings used instead of looking ``input_ids`` up in
        ``embed`` (before ``embedding_scale``, which applies to them as to looked-up rows, as do the
        positions and ``embed_norm``). ``input_ids`` may be given with them (same (B, L)): they then
        serve only ESM-2's token dropout, which needs them and is skipped without them.
        """
        if input_ids is None and inputs_embeds is None:
            raise ValueError("give input_ids or inputs_embeds")
        if input_ids is not None and input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (B, L), got shape {tuple(input_ids.shape)}")
        if inputs_embeds is not None:
            if inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != self.config.hidden_size:
                raise ValueError(f"inputs_embeds must be (B, L, {self.config.hidden_size}), "
                                 f"got shape {tuple(inputs_embeds.shape)}")
            if input_ids is not None and input_ids.shape != inputs_embeds.shape[:2]:
                raise ValueError(f"input_ids shape {tuple(input_ids.shape)} != inputs_embeds (B, L) "
                                 f"{tuple(inputs_embeds.shape[:2])}")
        shape = input_ids.shape if input_ids is not None else inputs_embeds.shape[:2]
        B, L = shape
        if L > self.config.max_length:
            raise ValueError(f"input length {L} exceeds the model's max_length {self.config.max_length}")
        if output_attentions and not self.returns_attention:
            raise ValueError(f"attention kind {self.config.attention!r} cannot return attention probabilities")
        key_padding_mask = None
        if attention_mask is not None:
            if attention_mask.shape != shape:
                raise ValueError(f"attention_mask shape {tuple(attention_mask.shape)} "
                                 f"!= input shape {tuple(shape)}")
            key_padding_mask = attention_mask.bool()
            if bool(key_padding_mask.all()):  # nothing padded: let the kinds take their unmasked path
                key_padding_mask = None

        embedded = self.embed_tokens(input_ids, attention_mask, inputs_embeds)  # (B, L, D)
        rotation = self.rotary(L) if self.rotary is not None else None  # (L, Dh/2) complex
        if self.config.reversible and torch.is_grad_enabled() and not (output_hidden_states or output_attentions):
            # Activations recomputed in backward. (Asking for hidden states or attentions keeps them:
            # the same blocks then run through plain autograd, as they do without grad.)
            x, hidden, attentions = reversible_stack(self.blocks, embedded, rotation, key_padding_mask), [], []
        else:
            stack = two_stream_forward if self.config.reversible else plain_forward
            x, hidden, attentions = stack(self.blocks, embedded, rotation, key_padding_mask, output_attentions,
                                          output_hidden_states)
        return EncoderOutput(
            last_hidden_state=self.norm(x) if self.norm is not None else x,
            hidden_states=(embedded, *hidden) if output_hidden_states else None,
            attentions=tuple(attentions) if output_attentions else None,
        )


def encoder_of(model: nn.Module) -> SeqEncoder:
    """The :class:`SeqEncoder` of a model (itself, or its ``.encoder``: a masked LM or a classifier)."""
    encoder = model if isinstance(model, SeqEncoder) else getattr(model, "encoder", None)
    if not isinstance(encoder, SeqEncoder):
        raise ValueError(f"{type(model).__name__} has no SeqEncoder")
    return encoder
