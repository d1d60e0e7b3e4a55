"""Sequence classifier: a :class:`SeqEncoder` and a pooled classification head.

Axes: B batch, L tokens, D width, T labels (targets).

The head pools the encoder's tokens (B, L, D) → (B, D) — the mean over real tokens (the
attention mask's True positions) or the [CLS] token — then dropout → linear D→T gives the
logits (B, T). ``problem_type`` names the loss, as HF transformers does, and
:meth:`SequenceClassifier.loss` is the one place that computes it:

- ``"binary"``: one label (T = 1), a sigmoid, binary cross-entropy; labels (B, 1) or (B,) of 0/1;
- ``"multi_label"``: one sigmoid per label, binary cross-entropy (a one-label multi_label model is
  the same as a binary one); labels (B, T) of 0/1;
- ``"single_label"``: softmax over the labels, cross-entropy; labels (B,) class indices.

Positives of a sigmoid loss may be weighted per label (``pos_weight``, (T,)), as fine-tuning on
rare peaks does.

``window`` records how many bases an input window had in training, so a scanner can cut a
genome into windows of the same size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqformer.models.config import EncoderConfig, HeadConfig
from seqformer.models.encoder import INIT_STD, SeqEncoder
from seqformer.models.pretrained import PretrainedModel

MODEL_TYPE = "sequence-classifier"
PROBLEM_TYPES = ("binary", "multi_label", "single_label")
POOLINGS = ("mean", "cls")


@dataclass(frozen=True)
class ClassifierConfig(HeadConfig):
    """An encoder's config and the classification head's options."""

    MODEL_TYPE = MODEL_TYPE
    DESCRIBED = "a sequence classifier"
    REQUIRED = ("encoder", "labels")

    encoder: EncoderConfig  # the encoder: vocabulary, width, layers, attention kind, tokenizer description
    labels: tuple[str, ...]  # T label names, in logit order, e.g. ("promoter",)
    problem_type: str = "multi_label"  # "binary" (one label), "multi_label" (sigmoid per label, BCE), "single_label" (softmax, CE)
    window: int = 300  # bases per input window the model was trained on
    pooling: str = "mean"  # "mean" over real tokens, or "cls" (the first token)
    head_dropout: float = 0.1  # dropout on the pooled representation (training only)

    def __post_init__(self) -> None:
        self._check_encoder()
        self._check_labels()
        if self.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type must be one of {PROBLEM_TYPES}, got {self.problem_type!r}")
        if self.problem_type == "single_label" and len(self.labels) < 2:
            raise ValueError("a single_label problem needs at least two labels (use binary for one)")
        if self.problem_type == "binary" and len(self.labels) != 1:
            raise ValueError(f"a binary problem has one label, got {list(self.labels)} (use multi_label)")
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 1:
            raise ValueError(f"window must be a positive number of bases, got {self.window!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if not 0.0 <= self.head_dropout < 1.0:
            raise ValueError(f"head_dropout must be in [0, 1), got {self.head_dropout}")

    @property
    def num_labels(self) -> int:
        """T: the number of logits."""
        return len(self.labels)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``model_type``, ``encoder`` (every field) and the head's options."""
        return {"model_type": MODEL_TYPE, "encoder": self.encoder.to_dict(), "labels": list(self.labels),
                "problem_type": self.problem_type, "window": self.window, "pooling": self.pooling,
                "head_dropout": self.head_dropout}


@dataclass
class ClassifierOutput:
    """What :meth:`SequenceClassifier.forward` returns; optional fields are None unless asked for."""

    logits: torch.Tensor  # (B, T) scores, before the sigmoid (multi_label) or softmax (single_label)
    loss: torch.Tensor | None = None  # mean BCE or CE over the batch, when labels are given (fp32)
    hidden_states: tuple[torch.Tensor, ...] | None = None  # as EncoderOutput.hidden_states
    attentions: tuple[torch.Tensor, ...] | None = None  # as EncoderOutput.attentions


class ClassificationHead(nn.Module):
    """Pool (B, L, D) → (B, D), dropout, linear D → T."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.pooling = config.pooling
        self.dropout = nn.Dropout(config.head_dropout)
        self.out = nn.Linear(config.encoder.hidden_size, config.num_labels)
        nn.init.normal_(self.out.weight, std=INIT_STD)
        nn.init.zeros_(self.out.bias)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """hidden (B, L, D), attention_mask (B, L) True = real token → logits (B, T)."""
        if self.pooling == "cls" or attention_mask is None:
            pooled = hidden[:, 0] if self.pooling == "cls" else hidden.mean(dim=1)  # (B, D)
        else:
            weights = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (B, L, 1)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)  # (B, D)
        return self.out(self.dropout(pooled))


class SequenceClassifier(PretrainedModel):
    """SeqEncoder + classification head. Carries its tokenizer (``.tokenizer``); the encoder is ``.encoder``."""

    config_class = ClassifierConfig

    def __init__(self, config: ClassifierConfig, tokenizer: Any = None) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.encoder = SeqEncoder(config.encoder, tokenizer=tokenizer)
        self.head = ClassificationHead(config)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, output_hidden_states: bool = False,
                output_attentions: bool = False, *, inputs_embeds: torch.Tensor | None = None) -> ClassifierOutput:
        """input_ids (B, L), attention_mask (B, L) True = real token, labels (B, T) 0/1 or (B,) class ids.

        ``inputs_embeds`` (B, L, D) stands in for the token embedding lookup, as in
        :meth:`SeqEncoder.forward <seqformer.models.encoder.SeqEncoder.forward>`.
        """
        encoded = self.encoder(input_ids, attention_mask, output_hidden_states=output_hidden_states,
                               output_attentions=output_attentions, inputs_embeds=inputs_embeds)
        logits = self.head(encoded.last_hidden_state, attention_mask)  # (B, T)
        loss = None if labels is None else self.loss(logits, labels)
        return ClassifierOutput(logits, loss, encoded.hidden_states, encoded.attentions)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, pos_weight: torch.Tensor | None = None) -> torch.Tensor:
        """The ``problem_type``'s mean loss (fp32) of logits (B, T) against labels.

        labels: (B, T) 0/1 for sigmoid losses ((B,) when T = 1), (B,) class ids for single_label.
        pos_weight: (T,) weight of each label's positives (sigmoid losses only).
        """
        if self.config.problem_type == "single_label":
            if pos_weight is not None:
                raise ValueError("pos_weight applies to binary and multi_label problems only")
            return F.cross_entropy(logits.float(), labels.long().view(-1))
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float().view_as(logits),
                                                  pos_weight=pos_weight)

    def predict_proba(self, logits: torch.Tensor) -> torch.Tensor:
        """Probabilities (B, T) from logits (B, T): sigmoid per label, or softmax over labels."""
        if self.config.problem_type == "single_label":
            return torch.softmax(logits.float(), dim=-1)
        return torch.sigmoid(logits.float())

    @classmethod
    def from_encoder(cls, pretrained: nn.Module, labels: tuple[str, ...] | list[str], window: int,
                     *, problem_type: str = "multi_label", pooling: str = "mean",
                     head_dropout: float = 0.1) -> SequenceClassifier:
        """A classifier whose encoder (and tokenizer) come from a pretrained model; the head is new.

        Args:
            pretrained: a loaded model with an ``.encoder`` (a masked LM, a classifier) or a
                :class:`SeqEncoder` itself; load a folder with :func:`seqformer.models.load_model`.
            labels, window, problem_type, pooling, head_dropout: the head's options (:class:`ClassifierConfig`).
        """
        source = pretrained
        encoder = source if isinstance(source, SeqEncoder) else getattr(source, "encoder", None)
        if not isinstance(encoder, SeqEncoder):
            raise ValueError(f"{type(source).__name__} has no SeqEncoder to start from")
        config = ClassifierConfig(encoder.config, tuple(labels), problem_type=problem_type, window=window,
                                  pooling=pooling, head_dropout=head_dropout)
        model = cls(config, tokenizer=source.tokenizer)
        model.encoder.load_state_dict(encoder.state_dict(), strict=True)
        return model
