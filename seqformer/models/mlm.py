"""Masked language model: a :class:`SeqEncoder` and a language-model head over its tokens.

Axes: B batch, L tokens, D width, V vocabulary, N predicted (labelled) tokens.

The head is BERT's and ESM's: dense D→D → GELU (the encoder's ``activation``: exact, or tanh for
BigBird's gelu_new) → LayerNorm → decoder D→V with its own bias.
By default the decoder's weight *is* the token embedding (``tie_word_embeddings=True``, as BERT
and ESM do): it is not stored twice, and ``model.safetensors`` holds it once, under the encoder.
``forward`` returns logits for every token (B, L, V); training and evaluation call
:meth:`MaskedLM.predict_masked`, which runs the head on the N labelled tokens only, since for
k-mer vocabularies (V = 4,101 for 6-mers) the decoder would otherwise dominate the cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqformer.models.config import EncoderConfig, HeadConfig
from seqformer.models.encoder import INIT_STD, SeqEncoder, activation
from seqformer.models.pretrained import PretrainedModel

MODEL_TYPE = "masked-lm"
IGNORE_INDEX = -100  # the label of tokens the loss skips (torch's cross_entropy default); masking writes it


@dataclass(frozen=True)
class MaskedLMConfig(HeadConfig):
    """An encoder's config and the LM head's options."""

    MODEL_TYPE = MODEL_TYPE
    DESCRIBED = "a masked-LM config"

    encoder: EncoderConfig  # the encoder: vocabulary, width, layers, attention kind, tokenizer description
    tie_word_embeddings: bool = True  # decoder weight = token embedding (BERT, ESM); False = its own (V, D) weight

    def __post_init__(self) -> None:
        self._check_encoder()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``model_type``, ``encoder`` (every field) and the head's options."""
        return {"model_type": MODEL_TYPE, "encoder": self.encoder.to_dict(),
                "tie_word_embeddings": self.tie_word_embeddings}


class LMHead(nn.Module):
    """Dense → GELU → LayerNorm → decoder: token representations (..., D) → logits (..., V)."""

    def __init__(self, config: MaskedLMConfig) -> None:
        super().__init__()
        encoder = config.encoder
        self.dense = nn.Linear(encoder.hidden_size, encoder.hidden_size)
        self.norm = nn.LayerNorm(encoder.hidden_size, eps=encoder.layer_norm_eps)
        self.decoder = None if config.tie_word_embeddings else nn.Parameter(
            torch.empty(encoder.vocab_size, encoder.hidden_size))  # (V, D)
        self.bias = nn.Parameter(torch.zeros(encoder.vocab_size))  # (V,)
        self.activation = encoder.activation
        nn.init.normal_(self.dense.weight, std=INIT_STD)
        nn.init.zeros_(self.dense.bias)
        if self.decoder is not None:
            nn.init.normal_(self.decoder, std=INIT_STD)

    def forward(self, hidden: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """hidden (..., D), the token embedding (V, D) → logits (..., V)."""
        x = self.norm(activation(self.activation, self.dense(hidden)))
        return F.linear(x, embedding if self.decoder is None else self.decoder, self.bias)


@dataclass
class MaskedLMOutput:
    """What :meth:`MaskedLM.forward` returns; optional fields are None unless asked for."""

    logits: torch.Tensor  # (B, L, V) scores of every token at every position
    loss: torch.Tensor | None = None  # mean cross-entropy over labelled positions, when labels are given
    hidden_states: tuple[torch.Tensor, ...] | None = None  # as EncoderOutput.hidden_states
    attentions: tuple[torch.Tensor, ...] | None = None  # as EncoderOutput.attentions


@dataclass
class MaskedPredictions:
    """What :meth:`MaskedLM.predict_masked` returns: the labelled positions only."""

    loss: torch.Tensor  # () mean cross-entropy over the N labelled tokens (0 when N = 0), fp32
    logits: torch.Tensor  # (N, V) scores at the labelled positions, in row-major order
    labels: torch.Tensor  # (N,) the true ids there


class MaskedLM(PretrainedModel):
    """SeqEncoder + LM head. Carries its tokenizer (``.tokenizer``); the encoder is ``.encoder``."""

    config_class = MaskedLMConfig

    def __init__(self, config: MaskedLMConfig, tokenizer: Any = None) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.encoder = SeqEncoder(config.encoder, tokenizer=tokenizer)
        self.head = LMHead(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, output_hidden_states: bool = False,
                output_attentions: bool = False) -> MaskedLMOutput:
        """input_ids (B, L), attention_mask (B, L) True = real token, labels (B, L) with -100 = ignore."""
        encoded = self.encoder(input_ids, attention_mask, output_hidden_states=output_hidden_states,
                               output_attentions=output_attentions)
        logits = self.head(encoded.last_hidden_state, self.encoder.embed.weight)  # (B, L, V)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE_INDEX)
        return MaskedLMOutput(logits, loss, encoded.hidden_states, encoded.attentions)

    def predict_masked(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                       labels: torch.Tensor) -> MaskedPredictions:
        """Loss and logits at the labelled positions only (the head never sees the others)."""
        hidden = self.encoder(input_ids, attention_mask).last_hidden_state  # (B, L, D)
        where = labels != IGNORE_INDEX  # (B, L)
        targets = labels[where]  # (N,)
        logits = self.head(hidden[where], self.encoder.embed.weight)  # (N, V)
        loss = F.cross_entropy(logits.float(), targets, reduction="sum") / max(targets.numel(), 1)
        return MaskedPredictions(loss, logits, targets)
