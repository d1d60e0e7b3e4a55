"""Masked-LM masking: select ~15% of tokens, replace them 80/10/10, label only those.

Axes: B batch, L tokens.

Selection: a token is selected when a span covering it starts at a "span start"; starts are
drawn independently with probability ``q = 1 - (1 - mask_prob) ** (1 / span)`` at every
position from ``-(span - 1)`` to ``L - 1``, so every token is covered by exactly ``span``
candidate starts and is selected with probability ``mask_prob`` (edges included). Spans are
clipped to maskable tokens, the tokenizer's body tokens (``is_body``): [PAD], [UNK], [CLS],
[SEP] and [MASK] are never selected.

Why spans: an overlapping k-mer (stride 1) shares k - 1 bases with each neighbour, so a single
masked k-mer is spelled out by the two k-mers beside it. With spans of k tokens every selected
token covers at least one base that no unselected k-mer covers (DNABERT's lesson); clipping at
the sequence ends and at [UNK] keeps that true, since nothing beyond them shows a base.

Replacement: of the selected tokens, ``mask_token_prob`` become [MASK], ``random_token_prob``
a uniformly random body token (one of the tokenizer's ``body_ids``), and the rest stay as they
are (BERT's 80/10/10).
Labels hold the original id at selected positions and -100 everywhere else.
Every row with a maskable token gets at least one selected span, so every row has a label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from seqformer.tokenizers.base import MASK_ID, SPECIAL_TOKENS, BatchEncoding


@dataclass(frozen=True)
class MaskingConfig:
    """How tokens are selected and replaced for masked-LM training."""

    mask_prob: float = 0.15  # expected share of maskable tokens selected for prediction
    mask_token_prob: float = 0.8  # share of selected tokens replaced by [MASK]
    random_token_prob: float = 0.1  # share replaced by a random non-special token; the rest stay unchanged
    span: int | None = None  # tokens per selected span; None = k for overlapping k-mers (stride 1), else 1

    def __post_init__(self) -> None:
        if not 0.0 < self.mask_prob < 1.0:
            raise ValueError(f"mask_prob must be between 0 and 1, got {self.mask_prob}")
        for name in ("mask_token_prob", "random_token_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.mask_token_prob + self.random_token_prob > 1.0:
            raise ValueError("mask_token_prob + random_token_prob must be at most 1, got "
                             f"{self.mask_token_prob} + {self.random_token_prob}")
        if self.span is not None and (not isinstance(self.span, int) or isinstance(self.span, bool)
                                      or self.span < 1):
            raise ValueError(f"span must be a positive integer or null, got {self.span!r}")

    def span_for(self, tokenizer) -> int:
        """Tokens per span for ``tokenizer``: ``span`` if set, k for overlapping k-mers, else 1."""
        if self.span is not None:
            return self.span
        k, stride = getattr(tokenizer, "k", 1), getattr(tokenizer, "stride", 1)
        return k if stride == 1 else 1

    def for_evaluation(self) -> MaskingConfig:
        """The same selection with every selected token replaced by [MASK], so no answer is visible."""
        return MaskingConfig(self.mask_prob, 1.0, 0.0, self.span)


@dataclass
class MaskedBatch:
    """A masked-LM batch; ``step`` says which training step it was built for (-1 outside training)."""

    input_ids: torch.Tensor  # (B, L) int64, after masking
    attention_mask: torch.Tensor  # (B, L) bool, True = real token
    labels: torch.Tensor  # (B, L) int64, the original id where selected, the loss's ignore index elsewhere
    step: int = -1

    def to(self, device: torch.device | str, non_blocking: bool = False) -> MaskedBatch:
        """The same batch on ``device``."""
        move = lambda t: t.to(device, non_blocking=non_blocking)  # noqa: E731
        return MaskedBatch(move(self.input_ids), move(self.attention_mask), move(self.labels), self.step)

    def pin_memory(self) -> MaskedBatch:
        """Page-locked copies, for fast host-to-GPU transfer (called by DataLoader's pin_memory)."""
        return MaskedBatch(self.input_ids.pin_memory(), self.attention_mask.pin_memory(),
                           self.labels.pin_memory(), self.step)

    @property
    def num_tokens(self) -> int:
        """Real (non-padding) tokens in the batch."""
        return int(self.attention_mask.sum())


def mask_tokens(input_ids: torch.Tensor, attention_mask: torch.Tensor, *, span: int, config: MaskingConfig,
                generator: torch.Generator, ignore_index: int, tokenizer=None,
                vocab_size: int | None = None) -> MaskedBatch:
    """Select, replace and label tokens of one padded batch (see the module docstring).

    Args:
        input_ids: (B, L) token ids from ``tokenizer``.
        attention_mask: (B, L) bool, True = real token.
        span: tokens per selected span (1 = independent tokens).
        config: the probabilities.
        generator: a CPU generator; the same seed gives the same masking.
        ignore_index: the label of tokens that are not predicted, as the model's loss defines it
            (:data:`seqformer.models.mlm.IGNORE_INDEX`).
        tokenizer: the tokenizer of ``input_ids``: its body tokens are maskable and the random
            replacements, its ``mask_id`` the [MASK].
        vocab_size: instead of ``tokenizer``, the size of a canonical-layout vocabulary (specials
            0..4, body ids 5 to ``vocab_size - 1``).
    """
    B, L = input_ids.shape
    if tokenizer is not None:
        body_ids, mask_id = torch.from_numpy(tokenizer.body_ids), tokenizer.mask_id  # (V',)
        maskable = attention_mask.bool() & tokenizer.is_body(input_ids)  # (B, L)
    elif vocab_size is not None:
        body_ids, mask_id = torch.arange(len(SPECIAL_TOKENS), vocab_size), MASK_ID  # (V',)
        maskable = attention_mask.bool() & (input_ids > MASK_ID)  # (B, L)
    else:
        raise ValueError("mask_tokens needs the tokenizer (or the vocab_size of a canonical one)")
    start_prob = 1.0 - (1.0 - config.mask_prob) ** (1.0 / span)
    # Column j is a span starting at token j - (span - 1): token t is covered by columns t..t+span-1.
    starts = torch.rand((B, L + span - 1), generator=generator) < start_prob  # (B, L + span - 1)
    decision = torch.rand((B, L), generator=generator)  # (B, L): which replacement
    random_ids = body_ids[torch.randint(len(body_ids), (B, L), generator=generator)]  # (B, L)
    fallback = torch.rand((B,), generator=generator)  # (B,): where an empty row gets its one span
    selected = F.max_pool1d(starts[:, None].float(), span, stride=1)[:, 0].bool() & maskable  # (B, L)

    for row in torch.nonzero(maskable.any(1) & ~selected.any(1)).flatten().tolist():
        candidates = torch.nonzero(maskable[row]).flatten()
        first = int(candidates[int(fallback[row] * len(candidates))])
        selected[row, first:first + span] = maskable[row, first:first + span]

    labels = torch.where(selected, input_ids, torch.full_like(input_ids, ignore_index))
    to_mask = selected & (decision < config.mask_token_prob)
    to_random = selected & ~to_mask & (decision < config.mask_token_prob + config.random_token_prob)
    masked = input_ids.masked_fill(to_mask, mask_id)
    masked = torch.where(to_random, random_ids, masked)
    return MaskedBatch(masked, attention_mask.bool(), labels)


def pad_windows(windows: list[np.ndarray], pad_id: int) -> BatchEncoding:
    """Token-id windows (L_i,) stacked into input_ids (B, max L_i) int64, padded on the right, and their mask."""
    width = max(len(window) for window in windows)
    input_ids = torch.full((len(windows), width), pad_id, dtype=torch.int64)  # (B, L)
    attention_mask = torch.zeros((len(windows), width), dtype=torch.bool)  # (B, L)
    for i, window in enumerate(windows):
        input_ids[i, : len(window)] = torch.as_tensor(np.asarray(window, dtype=np.int64))
        attention_mask[i, : len(window)] = True
    return BatchEncoding(input_ids, attention_mask)


class MaskingCollator:
    """Sequences → tokenized, padded and masked :class:`MaskedBatch` (tokenizer + :func:`mask_tokens`)."""

    def __init__(self, tokenizer, max_length: int, config: MaskingConfig = MaskingConfig(), *,
                 ignore_index: int) -> None:
        self.tokenizer = tokenizer
        self.ignore_index = ignore_index
        self.max_length = max_length
        self.config = config
        self.span = config.span_for(tokenizer)

    def __call__(self, seqs: list[str] | list[np.ndarray], generator: torch.Generator,
                 step: int = -1) -> MaskedBatch:
        """Encode ``seqs`` (cut to ``max_length`` tokens, padded to the longest) and mask them.

        ``seqs`` may instead be token-id windows, already framed and at most ``max_length`` long
        (a concatenating corpus): they are only padded, with the tokenizer's ``pad_id``.
        """
        if seqs and not isinstance(seqs[0], str):
            encoded = pad_windows(seqs, self.tokenizer.pad_id)
        else:
            encoded = self.tokenizer.batch_encode(seqs, max_length=self.max_length, truncation=True)
        batch = mask_tokens(encoded.input_ids, encoded.attention_mask, tokenizer=self.tokenizer,
                            span=self.span, config=self.config, generator=generator,
                            ignore_index=self.ignore_index)
        batch.step = step
        return batch
