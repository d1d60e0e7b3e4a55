"""Masked-LM evaluation: masked-token accuracy and perplexity beside a unigram baseline.

Axes: B batch, L tokens, V vocabulary, N predicted tokens.

:func:`masked_windows` selects tokens as training does (same rate, same spans) but replaces
*every* selected token by [MASK], so no answer is visible in the input; window ``i`` is masked
with a generator seeded by ``(seed, i)``, so the numbers depend neither on the batch size nor on
how many processes share the work. Pretraining's validation (:mod:`seqformer.tasks.mlm`) and
:func:`evaluate_mlm` (``seqformer evaluate mlm``) both score through :func:`score_batches`.

The unigram baseline predicts each masked token from token frequencies alone: its accuracy is
the share of masked tokens equal to the most frequent token, its perplexity
``exp(-mean log p(token))``. :func:`evaluate_mlm` takes the frequencies from the evaluated file
itself (every maskable token of it), which flatters the baseline slightly; the model never sees them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

import torch
from torch import nn

from seqformer.data.corpus import check_letters
from seqformer.data.loader import derived_seed
from seqformer.data.masking import MaskedBatch, MaskingConfig, mask_tokens, pad_windows
from seqformer.errors import InputError
from seqformer.io.fasta import read_fasta
from seqformer.io.sequence import clean_dna, clean_protein
from seqformer.models.mlm import IGNORE_INDEX
from seqformer.tokenizers.base import MASK_ID, PAD_ID

EVAL_STREAM = 2  # last part of the masking seed of evaluation windows


def masked_windows(seqs: Iterable, tokenizer, max_length: int, masking: MaskingConfig, seed: int, *,
                   rank: int = 0, world_size: int = 1) -> Iterator[MaskedBatch]:
    """Windows (1, L), all selected tokens [MASK]ed, window ``i`` seeded by ``(seed, i)``; rank's share only.

    A window is a sequence string (encoded, cut to ``max_length``) or an array of token ids already
    framed (a concatenating corpus's window), taken as it is.
    """
    masking = masking.for_evaluation()
    span = masking.span_for(tokenizer)
    for i, seq in enumerate(seqs):
        if i % world_size != rank:
            continue
        encoded = (tokenizer.batch_encode([seq], max_length=max_length, truncation=True) if isinstance(seq, str)
                   else pad_windows([seq], tokenizer.pad_id))
        generator = torch.Generator().manual_seed(derived_seed(seed, i, EVAL_STREAM))
        yield mask_tokens(encoded.input_ids, encoded.attention_mask, tokenizer=tokenizer,
                          span=span, config=masking, generator=generator, ignore_index=IGNORE_INDEX)


def padded_batches(windows: Iterable[MaskedBatch], batch_size: int, pad_id: int = PAD_ID) -> Iterator[MaskedBatch]:
    """Windows (1, L_i) stacked into batches (B, max L_i), padded on the right with ``pad_id`` (the tokenizer's)."""
    rows: list[MaskedBatch] = []
    for window in windows:
        rows.append(window)
        if len(rows) == batch_size:
            yield _stack(rows, pad_id)
            rows = []
    if rows:
        yield _stack(rows, pad_id)


def _stack(rows: list[MaskedBatch], pad_id: int) -> MaskedBatch:
    width = max(row.input_ids.shape[1] for row in rows)
    pad = lambda t, value: torch.nn.functional.pad(t, (0, width - t.shape[1]), value=value)  # noqa: E731
    return MaskedBatch(torch.cat([pad(r.input_ids, pad_id) for r in rows]),
                       torch.cat([pad(r.attention_mask, False) for r in rows]),
                       torch.cat([pad(r.labels, IGNORE_INDEX) for r in rows]))


@dataclass
class Scores:
    """Additive statistics of masked-token predictions."""

    loss_sum: float  # summed cross-entropy (nats) over predicted tokens
    correct: int  # predicted tokens whose argmax is the true token
    count: int  # predicted tokens
    label_counts: torch.Tensor  # (V,) how often each id was a predicted token
    token_counts: torch.Tensor  # (V,) how often each id occurs among the maskable tokens of the input


@torch.no_grad()
def score_batches(model: nn.Module, batches: Iterable[MaskedBatch], device: torch.device) -> Scores:
    """Run ``model.predict_masked`` over the batches and add up the statistics."""
    vocab = model.config.vocab_size
    tokenizer = getattr(model, "tokenizer", None)  # which ids are maskable; none: the canonical layout
    is_body = tokenizer.is_body if tokenizer is not None else (lambda ids: ids > MASK_ID)
    loss_sum, correct, count = 0.0, 0, 0
    label_counts = torch.zeros(vocab, dtype=torch.int64)
    token_counts = torch.zeros(vocab, dtype=torch.int64)
    for batch in batches:
        originals = torch.where(batch.labels >= 0, batch.labels, batch.input_ids)  # (B, L): the true tokens
        token_counts += torch.bincount(originals[is_body(originals)], minlength=vocab)
        if not bool((batch.labels >= 0).any()):
            continue
        batch = batch.to(device)
        predictions = model.predict_masked(batch.input_ids, batch.attention_mask, batch.labels)
        n = predictions.labels.numel()
        loss_sum += float(predictions.loss) * n
        correct += int((predictions.logits.argmax(-1) == predictions.labels).sum())
        count += n
        label_counts += torch.bincount(predictions.labels.cpu(), minlength=vocab)
    return Scores(loss_sum, correct, count, label_counts, token_counts)


@dataclass
class MLMEvaluation:
    """Masked-token accuracy and perplexity of a model on a FASTA file, beside the unigram baseline's."""

    fasta: str  # the evaluated file
    records: int  # FASTA records read
    windows: int  # windows of at most max_length tokens cut from them
    tokens: int  # maskable tokens (not [UNK]) in the windows
    masked: int  # tokens predicted (selected for masking)
    loss: float  # mean cross-entropy of the model (nats)
    accuracy: float  # share of masked tokens the model's argmax gets right
    perplexity: float  # exp(loss)
    unigram_accuracy: float  # the same for always predicting the file's most frequent token
    unigram_perplexity: float  # exp of the unigram model's mean cross-entropy
    max_length: int  # tokens per window
    seed: int  # masking seed

    def to_dict(self) -> dict:
        """A JSON-ready dict, with a note on where the baseline's frequencies come from."""
        return {**asdict(self), "unigram_frequencies": "the evaluated file's own maskable tokens"}


def evaluate_mlm(model: nn.Module, fasta: str | Path, *, batch_size: int = 8, seed: int = 0,
                 max_length: int | None = None, device: torch.device | str = "cpu",
                 masking: MaskingConfig = MaskingConfig()) -> MLMEvaluation:
    """Masked-token accuracy and perplexity of a masked LM on every record of ``fasta``.

    Records are cut into windows of ``max_length`` tokens (default: the model's) without
    losing or repeating a token; 15% of tokens (spans of k for overlapping k-mers) are
    replaced by [MASK] with a fixed seed and predicted.
    """
    tokenizer = model.tokenizer
    alphabet = "dna" if tokenizer.type_name == "kmer" else "protein"
    max_length = max_length or model.config.encoder.max_length
    device = torch.device(device)
    model.to(device).eval()
    counter = {"records": 0}

    def windows() -> Iterator[str]:
        # new token starts per window, in letters (num_tokens(0): the special tokens of a window)
        chunk = (max_length - tokenizer.num_tokens(0)) * getattr(tokenizer, "stride", 1)
        clean = clean_dna if alphabet == "dna" else clean_protein
        for record in read_fasta(fasta):
            if counter["records"] == 0:
                check_letters(record.seq, alphabet, str(fasta))
            counter["records"] += 1
            seq = clean(record.seq, path=fasta, record=record.id)
            for start, end in tokenizer.chunk_bounds(seq, chunk):
                yield seq[start:end]

    masked = masked_windows(windows(), tokenizer, max_length, masking, seed)
    counted = _Counted(masked)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        scores = score_batches(model, padded_batches(counted, batch_size, tokenizer.pad_id), device)
    if scores.count == 0:
        raise InputError("no token to evaluate: every token is [UNK] (N or ambiguity codes) or "
                         "a special token, so nothing can be masked", path=fasta)
    return _evaluation(scores, str(fasta), counter["records"], counted.count, max_length, seed)


class _Counted:
    """An iterable that counts what passes through it."""

    def __init__(self, items: Iterable) -> None:
        self.items, self.count = items, 0

    def __iter__(self):
        for item in self.items:
            self.count += 1
            yield item


def _evaluation(scores: Scores, fasta: str, records: int, windows: int, max_length: int,
                seed: int) -> MLMEvaluation:
    n = max(scores.count, 1)
    frequencies = scores.token_counts.double() / max(int(scores.token_counts.sum()), 1)  # (V,)
    labelled = scores.label_counts.double()  # (V,)
    used = labelled > 0
    unigram_nll = float(-(labelled[used] * frequencies[used].log()).sum()) / n
    loss = scores.loss_sum / n
    return MLMEvaluation(fasta=fasta, records=records, windows=windows, tokens=int(scores.token_counts.sum()),
                         masked=scores.count, loss=loss, accuracy=scores.correct / n,
                         perplexity=math.exp(min(loss, 700.0)),
                         unigram_accuracy=float(labelled[int(frequencies.argmax())]) / n,
                         unigram_perplexity=math.exp(min(unigram_nll, 700.0)), max_length=max_length, seed=seed)
