"""Per-base tracks of whole sequences under a track model, one pass per sequence and strand.

Axes: B sequences per batch, L tokens, N bases, T labels, k bases per token.

A :class:`~seqformer.models.token_classifier.TokenClassifier` gives every token its T probabilities;
a token's value stands for each of its k bases (:func:`~seqformer.models.token_classifier.token_to_base`;
a partial last token for the bases it has). With ``strands="both"`` the reverse complement is read too
and its per-base values are put back in forward order base by base before the two are averaged (the
strands' tokens need not line up when the length is not a multiple of k). Each sequence is read
whole, so it must fit the model (the chromatin pieces of :mod:`seqformer.data.peak_track` do).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from seqformer.errors import InputError
from seqformer.io.sequence import reverse_complement
from seqformer.models.token_classifier import token_to_base
from seqformer.predict.scorer import STRANDS


@torch.no_grad()
def _forward_tracks(model, seqs: Sequence[str], device: torch.device) -> list[np.ndarray]:
    """(N_i, T) per-base probabilities of each sequence read as given, one forward pass for the batch."""
    tokenizer, k = model.tokenizer, model.config.k
    enc = tokenizer.batch_encode(list(seqs), padding="longest")
    logits = model(enc.input_ids.to(device), enc.attention_mask.to(device)).logits  # (B, L, T)
    probs = model.predict_proba(logits).cpu().numpy()  # (B, L, T) float32
    out = []
    for row, seq in zip(probs, seqs):
        body = tokenizer.token_spans(len(seq))[:, 0] >= 0  # (L_i,)
        out.append(token_to_base(row[:len(body)][body], k, len(seq)))
    return out


def base_tracks(model, seqs: Sequence[str], *, strands: str = "both", batch_size: int = 8,
                device: torch.device | str | None = None) -> list[np.ndarray]:
    """(N_i, T) float32 per-base probabilities of each of ``seqs``, on the forward strand or both averaged.

    Sequences are batched in order of length (``batch_size`` per pass); the model must be in eval mode.
    """
    if strands not in STRANDS:
        raise InputError(f"strands must be {' or '.join(STRANDS)}, got {strands!r}")
    limit = model.config.encoder.max_length
    longest = max((len(s) for s in seqs), default=0)
    if model.tokenizer.num_tokens(longest) > limit:
        raise InputError(f"a {longest}-base sequence is more than the model's {limit} tokens")
    device = next(model.parameters()).device if device is None else torch.device(device)
    out: list[np.ndarray | None] = [None] * len(seqs)
    order = np.argsort([len(s) for s in seqs], kind="stable")
    for i in range(0, len(order), batch_size):
        picked = order[i:i + batch_size]
        part = [seqs[j] for j in picked]
        tracks = _forward_tracks(model, part, device)
        if strands == "both":
            minus = _forward_tracks(model, [reverse_complement(s) for s in part], device)
            tracks = [(plus + back[::-1]) / 2 for plus, back in zip(tracks, minus)]
        for j, track in zip(picked, tracks):
            out[j] = track.astype(np.float32, copy=False)
    return out  # type: ignore[return-value]
