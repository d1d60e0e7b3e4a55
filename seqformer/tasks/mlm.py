"""The masked-LM task: training batches, the loss and validation (a :class:`seqformer.training.loop.Task`).

Axes: B batch, L tokens, V vocabulary, N predicted tokens.

Training batches are masked 80/10/10 (:mod:`seqformer.data.masking`). Validation masks every
selected token and scores as ``seqformer evaluate mlm`` does (:mod:`seqformer.evaluation.mlm`).
A corpus's windows are sequences or, for a concatenating corpus (``data.concat``), token ids;
both are masked alike (only body tokens, never [CLS] / [SEP] / [PAD]).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seqformer.data.corpus import Corpus
from seqformer.data.loader import derived_seed
from seqformer.data.masking import MaskedBatch, MaskingCollator, MaskingConfig
from seqformer.evaluation.mlm import masked_windows, padded_batches, score_batches
from seqformer.models.mlm import IGNORE_INDEX

TRAIN_STREAM = 1  # last part of the masking seed of training batches (evaluation.mlm.EVAL_STREAM is 2)


class MaskedLoss(nn.Module):
    """Wraps a :class:`~seqformer.models.mlm.MaskedLM`: forward(batch) is the loss (what DDP wraps)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: MaskedBatch) -> torch.Tensor:
        return self.model.predict_masked(batch.input_ids, batch.attention_mask, batch.labels).loss


class MaskedLMTask:
    """Masked-LM pretraining on a corpus: the :class:`seqformer.training.loop.Task` of ``pretrain``."""

    def __init__(self, corpus: Corpus, tokenizer, *, max_length: int, batch_size: int,
                 masking: MaskingConfig = MaskingConfig(), seed: int = 0) -> None:
        self.corpus = corpus
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self.masking = masking
        self.seed = seed
        self.collator = MaskingCollator(tokenizer, max_length, masking, ignore_index=IGNORE_INDEX)
        self._validation: dict[tuple[int, int], list[MaskedBatch]] = {}

    def train_batch(self, index: int, rank: int, world_size: int) -> MaskedBatch:
        """Micro-batch ``index`` on ``rank``: the corpus's windows for it, masked 80/10/10."""
        seqs = self.corpus.train_sequences(index, rank, world_size, self.batch_size)
        generator = torch.Generator().manual_seed(derived_seed(self.seed, index, rank, TRAIN_STREAM))
        return self.collator(seqs, generator, step=index)

    def loss_module(self, model: nn.Module) -> nn.Module:
        """``model`` wrapped so that forward(batch) returns the masked-LM loss."""
        return MaskedLoss(model)

    def validation_sums(self, model: nn.Module, rank: int, world_size: int,
                        device: torch.device) -> dict[str, float]:
        """Loss sum, correct predictions and count over this rank's validation windows."""
        if (rank, world_size) not in self._validation:  # masked once, the same at every validation
            seqs = self.corpus.validation_sequences()  # strings, or token-id windows of a concatenating corpus
            windows = masked_windows(seqs, self.tokenizer, self.max_length, self.masking, self.seed,
                                     rank=rank, world_size=world_size)
            self._validation[(rank, world_size)] = list(padded_batches(windows, self.batch_size,
                                                                       self.tokenizer.pad_id))
        scores = score_batches(model, self._validation[(rank, world_size)], device)
        return {"loss_sum": scores.loss_sum, "correct": scores.correct, "count": scores.count}

    def validation_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        """val_loss, val_accuracy and val_perplexity of the masked tokens."""
        loss = sums["loss_sum"] / max(sums["count"], 1)
        return {"val_loss": loss, "val_accuracy": sums["correct"] / max(sums["count"], 1),
                "val_perplexity": math.exp(min(loss, 700.0))}
