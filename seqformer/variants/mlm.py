"""Zero-shot variant scores from a pretrained masked LM: the log-likelihood ratio of ALT vs REF.

Axes: N alleles, W bases per window, L tokens, V vocabulary. The model is a
:class:`~seqformer.models.mlm.MaskedLM` with a :class:`~seqformer.tokenizers.KmerTokenizer`
(overlapping or not). Its windows are :func:`mlm_window` bases, the most that encode to the
model's ``max_length`` tokens with [CLS] and [SEP] (as in pretraining), built around each allele as
:mod:`seqformer.variants.windows` describes.

For one allele window, the **variant's tokens** are those whose bases overlap the trimmed allele
(:func:`~seqformer.variants.alleles.trim_alleles`): one base for an SNV, which with overlapping
k-mers is k tokens; for an indel the allele keeps its anchor base, so an insertion masks the tokens
over the anchor in REF and over the anchor and the inserted bases in ALT, and a deletion the
other way round (the two alleles then sum different numbers of terms, which is part of the score).
All of them are replaced by [MASK] at once and

    LL(allele) = sum over those positions of log p(true token | the masked window)
    mlm_llr = LL(ALT) - LL(REF)

computed on the forward strand and on the reverse complement, and averaged. A score is NaN when a
true token there is [UNK] (an N or other IUPAC code in the allele's k-mers): pretraining never
predicts [UNK], so its probability means nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from seqformer.data.corpus import window_length
from seqformer.errors import InputError
from seqformer.models.mlm import IGNORE_INDEX
from seqformer.predict.windows import batched
from seqformer.variants.windows import AlleleWindows


def check_dna_mlm(model, path=None):
    """``model`` itself when it is a masked LM over k-mers (what --mlm scores with); InputError otherwise."""
    from seqformer.models.mlm import MaskedLM
    from seqformer.tokenizers import KmerTokenizer

    if not isinstance(model, MaskedLM) or not isinstance(model.tokenizer, KmerTokenizer):
        raise InputError(f"--mlm needs a DNA masked LM (k-mer tokenizer); this one has {model.tokenizer!r}",
                         path=path)
    return model


def mlm_window(model) -> int:
    """W: bases per window for ``model``, the most that encode to its ``max_length`` tokens."""
    return window_length(model.tokenizer, model.config.encoder.max_length)


def masked_tokens(tokenizer, seq: str | int, span: tuple[int, int]) -> np.ndarray:
    """(L,) bool: the tokens of window ``seq`` (its letters, or its length for tokenizers that place tokens by
    length alone) whose bases overlap ``[start, end)``."""
    spans = tokenizer.token_spans(seq)  # (L, 2); specials are (-1, -1)
    return (spans[:, 0] < span[1]) & (spans[:, 1] > span[0])


@torch.inference_mode()
def allele_log_likelihood(model, seqs: Sequence[str], spans: Sequence[tuple[int, int]], *, batch_size: int = 64,
                          device: torch.device | str | None = None) -> np.ndarray:
    """(N,) float64 sums of log p(true token) over the tokens overlapping each span, all masked at once.

    Args:
        model: a masked LM on ``device``, in eval mode.
        seqs: N windows, all of one length.
        spans: N ``[start, end)`` base ranges, one per window.
        batch_size: windows per forward pass.
        device: where the inputs go (default: where the model's parameters are).

    Returns:
        The sums; NaN for a window where a true token at a masked position is [UNK].
    """
    device = next(model.parameters()).device if device is None else torch.device(device)
    tokenizer = model.tokenizer
    out = []
    for batch in batched(list(zip(seqs, spans)), batch_size):
        ids = torch.from_numpy(np.stack([tokenizer.encode(seq) for seq, _ in batch]).astype(np.int64))  # (B, L)
        where = torch.from_numpy(np.stack([masked_tokens(tokenizer, seq, span) for seq, span in batch]))
        inputs = ids.masked_fill(where, tokenizer.mask_id).to(device)
        labels = ids.masked_fill(~where, IGNORE_INDEX).to(device)  # the true ids at the masked tokens only
        predicted = model.predict_masked(inputs, torch.ones_like(inputs, dtype=torch.bool), labels)
        truth = predicted.labels  # (M,), row-major like predicted.logits (M, V)
        logp = torch.log_softmax(predicted.logits.float(), dim=-1).gather(1, truth[:, None])[:, 0].double()  # (M,)
        rows = where.nonzero()[:, 0].to(device)  # (M,) the window of each masked token
        total = torch.zeros(len(batch), dtype=torch.float64, device=device).index_add_(0, rows, logp)
        unknown = torch.zeros(len(batch), dtype=torch.int64, device=device).index_add_(
            0, rows, (truth == tokenizer.unk_id).long()) > 0
        out.append(torch.where(unknown, torch.nan, total).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def mlm_llr(model, windows: Sequence[AlleleWindows], *, batch_size: int = 64,
            device: torch.device | str | None = None) -> np.ndarray:
    """(N,) ``LL(ALT) - LL(REF)`` per allele, the mean of the forward and reverse strands (module docstring).

    Args:
        model: a masked LM with a k-mer tokenizer, on ``device``, in eval mode.
        windows: each allele's windows, :func:`mlm_window` bases long.
        batch_size: windows per forward pass (each allele has four: REF and ALT, both strands).
        device: where the inputs go (default: where the model's parameters are).
    """
    n = len(windows)
    both = list(windows) + [w.reverse() for w in windows]
    seqs = [w.ref for w in both] + [w.alt for w in both]
    spans = [w.ref_span for w in both] + [w.alt_span for w in both]
    ll = allele_log_likelihood(model, seqs, spans, batch_size=batch_size, device=device)  # (4N,)
    ref, alt = ll[:2 * n], ll[2 * n:]
    diff = alt - ref  # (2N,): forward strand, then reverse
    return (diff[:n] + diff[n:]) / 2
