"""Attention maps of a model, per layer and head: over tokens, and mapped back to letters.

Axes: B batch, N layers, H heads, L tokens (queries and keys), n letters (bases or residues) of
one sequence.

Any seqformer model works: a bare :class:`~seqformer.models.SeqEncoder`, a masked LM or a sequence
classifier (their ``.encoder``). The probabilities are what the attention kind itself returns with
``need_weights=True``: softmax probabilities for dense, BigBird (zero outside its block mask),
Longformer and Reformer LSH (zero outside their masks and buckets); for Performer the implicit
attention φ(Q)φ(K)ᵀ with rows normalised, the matrix its linear attention stands for. A kind that
has no attention matrix (Nyströmformer) raises :class:`InputError`, as does an input longer than
:func:`extraction_limit` (maps are L x L per layer and head, so only short inputs here; longer
inputs, up to the model's ``max_length``, are read in chunks of query rows and kept sparse by
:mod:`seqformer.analysis.long_attention`).

Letters: token ``i`` covers the letters ``spans[i]`` (tokenizer ``token_spans``; specials cover
none). The letter map is ``A[a, b] = mean over query tokens i covering a of
sum over key tokens j covering b of α_ij / |span_j|``: each key token shares its weight equally
among its letters and each query letter averages the tokens covering it. For residues (one token
per letter) this is the token map without [CLS] and [SEP]; a row of it sums to the attention its
query token gives to letters (1 minus what goes to specials).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqformer.attention import ATTENTION_KINDS
from seqformer.errors import InputError
from seqformer.io.sequence import clean_dna, clean_protein
from seqformer.models.encoder import encoder_of
from seqformer.tokenizers.base import BatchEncoding

MAX_EXTRACTION_TOKENS = 2048  # longest input whose maps are extracted: N·H·L² floats (64 MiB per layer of 4 heads)


def map_kinds() -> list[str]:
    """The attention kinds that can return attention maps."""
    return sorted(kind for kind, (_, module) in ATTENTION_KINDS.items() if module.returns_attention)


def extraction_limit(model: nn.Module) -> int:
    """Longest input (tokens, specials included) whose maps can be extracted from ``model``.

    The least of :data:`MAX_EXTRACTION_TOKENS`, the model's ``max_length`` and the attention
    kind's own ``max_weights_length`` (where it has one).
    """
    config = encoder_of(model).config
    kind_limit = getattr(config.attention_config(), "max_weights_length", MAX_EXTRACTION_TOKENS)
    return min(MAX_EXTRACTION_TOKENS, config.max_length, kind_limit)


def check_extractable(model: nn.Module, length: int | None = None, *, record: str | None = None) -> None:
    """InputError unless ``model`` returns attention maps and ``length`` tokens are within the limit."""
    encoder = encoder_of(model)
    if not encoder.returns_attention:
        raise InputError(f"attention kind {encoder.config.attention!r} has no attention matrix to extract; "
                         f"attention maps need one of: {', '.join(map_kinds())}")
    limit = extraction_limit(model)
    if length is not None and length > limit:
        raise InputError(f"{length:,} tokens is longer than the attention-extraction limit of {limit:,} tokens "
                         "(maps are L x L per layer and head); use a shorter sequence or region", record=record)


@torch.no_grad()
def attention_probs(model: nn.Module, inputs: BatchEncoding) -> np.ndarray:
    """Attention probabilities (B, N, H, L, L) float32 of tokenized ``inputs``; padded rows and columns are 0.

    Runs on the model's device, in eval mode (the mode is restored afterwards).
    """
    encoder = encoder_of(model)
    check_extractable(model, inputs.input_ids.shape[1])
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    try:
        out = encoder(inputs.input_ids.to(device), inputs.attention_mask.to(device), output_attentions=True)
    finally:
        encoder.train(was_training)
    probs = torch.stack(out.attentions, dim=1).float()  # (B, N, H, L, L)
    real = inputs.attention_mask.to(device)
    pairs = real[:, None, None, :, None] & real[:, None, None, None, :]  # (B, 1, 1, L, L) real query and key
    return probs.masked_fill(~pairs, 0.0).cpu().numpy()


def letter_weights(spans: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(queries (n, L), keys (n, L)): token → letter weights of :func:`letter_attention`.

    ``queries[a, i] = 1 / (tokens covering a)`` and ``keys[b, j] = 1 / |span_j|`` where letter
    a (b) is in token i's (j's) span, else 0; specials (span (-1, -1)) get zero columns.
    """
    spans = np.asarray(spans, dtype=np.int64)
    letters = np.arange(n)[:, None]  # (n, 1)
    covers = (letters >= spans[None, :, 0]) & (letters < spans[None, :, 1])  # (n, L)
    width = np.maximum(spans[:, 1] - spans[:, 0], 1)  # (L,)
    keys = covers / width[None, :]
    queries = covers / np.maximum(covers.sum(1, keepdims=True), 1)
    return queries, keys


def letter_attention(probs: np.ndarray, spans: np.ndarray, n: int) -> np.ndarray:
    """Token maps (..., L, L) → letter maps (..., n, n) (module docstring)."""
    queries, keys = letter_weights(spans, n)
    return np.einsum("ai,...ij,bj->...ab", queries, probs, keys, optimize=True).astype(np.float32)


@dataclass(frozen=True)
class AttentionMaps:
    """One sequence's attention in every layer and head, over its tokens."""

    name: str  # the sequence's name (record id or region)
    seq: str  # its n letters, uppercase
    tokens: tuple[str, ...]  # the L tokens, [CLS] and [SEP] included
    spans: np.ndarray  # (L, 2) [start, end) letter offsets of each token; (-1, -1) for specials
    probs: np.ndarray  # (N, H, L, L) float32 attention of query token i to key token j
    kind: str  # the attention kind that produced them
    alphabet: str = ""  # "dna" or "protein" ("" where not known: the figures tell from the letters)
    tss: int | None = None  # DNA: 0-based offset in ``seq`` of a TSS, the origin of the figures' positions

    @property
    def num_layers(self) -> int:
        """N."""
        return self.probs.shape[0]

    @property
    def num_heads(self) -> int:
        """H."""
        return self.probs.shape[1]

    def letters(self) -> np.ndarray:
        """(N, H, n, n) attention between letters (module docstring)."""
        return letter_attention(self.probs, self.spans, len(self.seq))


def encode_sequence(model: nn.Module, seq: str, name: str = "", *,
                    tss: int | None = None) -> tuple[str, np.ndarray, str]:
    """(cleaned letters, token ids (L,), alphabet "dna" or "protein") of one sequence for ``model``'s tokenizer.

    InputError for letters the alphabet does not have, or a ``tss`` offset outside a DNA sequence.
    """
    tokenizer = model.tokenizer
    alphabet = "protein" if tokenizer.type_name == "protein" else "dna"
    clean = clean_protein if alphabet == "protein" else clean_dna
    seq = clean(seq, record=name or None)
    if tss is not None and (alphabet != "dna" or not 0 <= tss < len(seq)):
        raise InputError(f"the TSS offset {tss} is not a base of this {len(seq):,}-letter {alphabet} sequence",
                         record=name or None)
    return seq, tokenizer.encode(seq, record=name or None), alphabet


def sequence_attention(model: nn.Module, seq: str, name: str = "", *, tss: int | None = None) -> AttentionMaps:
    """The attention maps of one sequence (DNA for k-mer models, protein for residue models).

    ``tss``: 0-based offset of a TSS in ``seq`` (DNA), kept for the figures' positions.
    """
    tokenizer = model.tokenizer
    seq, ids, alphabet = encode_sequence(model, seq, name, tss=tss)
    check_extractable(model, len(ids), record=name or None)
    inputs = BatchEncoding(torch.from_numpy(ids.astype(np.int64))[None], torch.ones(1, len(ids), dtype=torch.bool))
    return AttentionMaps(name=name, seq=seq, tokens=tuple(tokenizer.id_to_token(i) for i in ids),
                         spans=tokenizer.token_spans(seq), probs=attention_probs(model, inputs)[0],
                         kind=encoder_of(model).config.attention, alphabet=alphabet, tss=tss)


def attention_frame(maps: AttentionMaps, *, letters: bool = True, min_weight: float = 0.0) -> pd.DataFrame:
    """A long table of attention weights above ``min_weight``: one row per (layer, head, query, key).

    Columns ``layer, head, query, key, query_label, key_label, weight``: positions are 0-based
    letter offsets (``letters=True``) or token indices, labels the letter or token there.
    """
    values = maps.letters() if letters else maps.probs  # (N, H, q, k)
    labels = np.array(list(maps.seq) if letters else maps.tokens)
    layer, head, query, key = np.nonzero(values > min_weight)
    return pd.DataFrame({"layer": layer, "head": head, "query": query, "key": key,
                         "query_label": labels[query], "key_label": labels[key],
                         "weight": values[layer, head, query, key]})


def head_statistics(maps: AttentionMaps) -> pd.DataFrame:
    """One row per (layer, head) summarising how it attends over the sequence's real tokens.

    Columns: ``entropy`` (mean over query tokens of -Σ α log α, nats), ``distance`` (mean over
    queries of Σ α_ij |i - j|, tokens), ``special`` (mean share of a query's attention on
    [CLS]/[SEP]), ``density`` (share of (query, key) pairs with non-zero weight: 1 for dense,
    the block mask's share for BigBird).
    """
    p = maps.probs.astype(np.float64)  # (N, H, L, L)
    length = p.shape[-1]
    offsets = np.abs(np.arange(length)[:, None] - np.arange(length)[None, :])  # (L, L)
    special = maps.spans[:, 0] < 0  # (L,)
    entropy = -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)).sum(-1).mean(-1)  # (N, H)
    layers, heads = np.meshgrid(range(p.shape[0]), range(p.shape[1]), indexing="ij")
    return pd.DataFrame({"layer": layers.ravel(), "head": heads.ravel(), "entropy": entropy.ravel(),
                         "distance": (p * offsets).sum(-1).mean(-1).ravel(),
                         "special": p[..., special].sum(-1).mean(-1).ravel(),
                         "density": (p > 0).mean((-1, -2)).ravel()})
