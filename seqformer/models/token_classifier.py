"""Token classifier: a :class:`SeqEncoder` with a head on every token, read back as per-base tracks.

Axes: B tiles, L tokens, D width, T labels, N bases.

The model reads a long tile of DNA (``tile`` bases in training; any length up to the encoder's
``max_length`` tokens when scanning) as non-overlapping k-mers (or single bases) and gives every
token its own logits (B, L, T): dropout then linear D → T on the encoder's last hidden state.
Token ``j`` of the body covers bases ``[j·k, (j+1)·k)`` of the tile, so a per-token value maps back
to bases by repeating it k times (:func:`token_to_base`); the [CLS]/[SEP] framing
tokens have no bases and are ignored by the loss.

The loss is the mean binary cross-entropy over the real body tokens (``token_mask``), positives
weighted by ``pos_weight`` when given — a TSS track has far fewer positive tokens than negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seqformer.models.config import EncoderConfig, HeadConfig
from seqformer.models.encoder import INIT_STD, SeqEncoder
from seqformer.models.pretrained import PretrainedModel

MODEL_TYPE = "token-classifier"


@dataclass(frozen=True)
class TokenClassifierConfig(HeadConfig):
    """An encoder's config and the per-token head's options."""

    MODEL_TYPE = MODEL_TYPE
    DESCRIBED = "a token classifier"
    REQUIRED = ("encoder", "labels")

    encoder: EncoderConfig  # vocabulary, width, layers, attention kind, tokenizer description
    labels: tuple[str, ...]  # T track names, in logit order, e.g. ("promoter",)
    tile: int = 4096  # bases per tile the model was trained on (the scan's default tile)
    context: int = 512  # bases at each tile edge the scan reads but does not keep (its default)
    smooth: int = 0  # bases of the moving mean a scan applies to the track before calling (0 = none)
    head_dropout: float = 0.1  # dropout on each token's representation (training only)

    def __post_init__(self) -> None:
        self._check_encoder()
        self._check_labels()
        for name in ("tile", "context", "smooth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "tile" else 0):
                raise ValueError(f"{name} must be a {'positive' if name == 'tile' else 'non-negative'} "
                                 f"number of bases, got {value!r}")
        if 2 * self.context >= self.tile:
            raise ValueError(f"context ({self.context}) must be less than half the tile ({self.tile})")
        tokenizer = self.encoder.tokenizer or {}
        k, stride = tokenizer.get("k", 1), tokenizer.get("stride", 1)
        if tokenizer.get("type") not in (None, "kmer") or stride != k:
            raise ValueError("a token classifier reads non-overlapping k-mers (stride = k), got tokenizer "
                             f"{tokenizer}")
        if not 0.0 <= self.head_dropout < 1.0:
            raise ValueError(f"head_dropout must be in [0, 1), got {self.head_dropout}")

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def k(self) -> int:
        """Bases per token."""
        return int((self.encoder.tokenizer or {}).get("k", 1))

    def to_dict(self) -> dict[str, Any]:
        return {"model_type": MODEL_TYPE, "encoder": self.encoder.to_dict(), "labels": list(self.labels),
                "tile": self.tile, "context": self.context, "smooth": self.smooth, "head_dropout": self.head_dropout}


@dataclass
class TokenClassifierOutput:
    """What :meth:`TokenClassifier.forward` returns."""

    logits: torch.Tensor  # (B, L, T) per-token scores before the sigmoid (framing tokens included)
    loss: torch.Tensor | None = None  # masked mean BCE, when labels are given (fp32)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class TokenClassifier(PretrainedModel):
    """SeqEncoder + a linear head on every token. Carries its tokenizer (``.tokenizer``)."""

    config_class = TokenClassifierConfig

    def __init__(self, config: TokenClassifierConfig, tokenizer: Any = None) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.encoder = SeqEncoder(config.encoder, tokenizer=tokenizer)
        self.dropout = nn.Dropout(config.head_dropout)
        self.head = nn.Linear(config.encoder.hidden_size, config.num_labels)
        nn.init.normal_(self.head.weight, std=INIT_STD)
        nn.init.zeros_(self.head.bias)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, token_mask: torch.Tensor | None = None,
                output_hidden_states: bool = False, output_attentions: bool = False, *,
                inputs_embeds: torch.Tensor | None = None) -> TokenClassifierOutput:
        """input_ids (B, L), attention_mask (B, L) True = real token; labels (B, L, T) in [0, 1] with
        token_mask (B, L) True = a body token the loss counts."""
        encoded = self.encoder(input_ids, attention_mask, output_hidden_states=output_hidden_states,
                               output_attentions=output_attentions, inputs_embeds=inputs_embeds)
        logits = self.head(self.dropout(encoded.last_hidden_state))  # (B, L, T)
        loss = None if labels is None else self.loss(logits, labels, token_mask)
        return TokenClassifierOutput(logits, loss, encoded.hidden_states, encoded.attentions)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, token_mask: torch.Tensor | None = None,
             pos_weight: torch.Tensor | None = None) -> torch.Tensor:
        """Mean BCE (fp32) of logits (B, L, T) against labels (B, L, T) over the tokens of ``token_mask``."""
        per = F.binary_cross_entropy_with_logits(logits.float(), labels.float().view_as(logits),
                                                 pos_weight=pos_weight, reduction="none")  # (B, L, T)
        if token_mask is None:
            return per.mean()
        weights = token_mask.to(per.dtype).unsqueeze(-1).expand_as(per)
        return (per * weights).sum() / weights.sum().clamp(min=1)

    def predict_proba(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-token probabilities (B, L, T)."""
        return torch.sigmoid(logits.float())

    @classmethod
    def from_encoder(cls, pretrained: nn.Module, labels: tuple[str, ...] | list[str], *, tile: int,
                     context: int, smooth: int = 0, head_dropout: float = 0.1) -> TokenClassifier:
        """A token classifier whose encoder (and tokenizer) come from a pretrained model; the head is new."""
        encoder = pretrained if isinstance(pretrained, SeqEncoder) else getattr(pretrained, "encoder", None)
        if not isinstance(encoder, SeqEncoder):
            raise ValueError(f"{type(pretrained).__name__} has no SeqEncoder to start from")
        config = TokenClassifierConfig(encoder.config, tuple(labels), tile=tile, context=context, smooth=smooth,
                                       head_dropout=head_dropout)
        model = cls(config, tokenizer=pretrained.tokenizer)
        model.encoder.load_state_dict(encoder.state_dict(), strict=True)
        return model


def token_to_base(values: np.ndarray, k: int, length: int) -> np.ndarray:
    """Per-token values (n, ...) → per-base values (length, ...): token j covers bases [j·k, (j+1)·k)."""
    return np.repeat(values, k, axis=0)[:length]
